import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from orbiter.converge.keys import signing_key_create, signing_public_key


class Command(BaseCommand):
    help = "The control plane's signing key: 'init' creates it (once), 'show' prints the public half for agents."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["init", "show"])

    def handle(self, *args, action, **options):
        try:
            if action == "init":
                public = signing_key_create()
                self.stderr.write(f"wrote {settings.ORBITER_SIGNING_KEY_FILE} (mode 0600)")
            else:
                public = signing_public_key()
        except (OSError, ValueError) as error:
            self.stderr.write(f"error: {error}")
            sys.exit(2)
        self.stdout.write(public)
