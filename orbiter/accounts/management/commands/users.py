import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from orbiter.accounts.users import user_create
from orbiter.common.errors import OrbiterError
from orbiter.core.management.ops import add_actor_argument, local_actor


class Command(BaseCommand):
    help = ("Users: create NAME [--email E] — a user without a password, for CI or a robot that acts only "
            "through API tokens (people sign in through LDAP, OIDC or createsuperuser); list.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "list"])
        parser.add_argument("username", nargs="?")
        parser.add_argument("--email", default="")
        add_actor_argument(parser)

    def handle(self, *args, action, username, email, actor, **options):
        try:
            if action == "list":
                for user in get_user_model().objects.order_by("username"):
                    flags = " superuser" if user.is_superuser else ""
                    state = "" if user.is_active else " inactive"
                    self.stdout.write(f"{user.get_username()}{flags}{state}")
                return
            if not username:
                self.stderr.write("error: create needs a NAME, e.g. orbiter users create jenkins")
                sys.exit(2)
            user_create(username=username, email=email, actor=local_actor(actor))
            self.stdout.write(f"user {username} created (no password: it acts through API tokens)")
        except OrbiterError as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(2)
