import sys

from django.core.management.base import BaseCommand

from orbiter.common.errors import NotFound, ValidationError
from orbiter.puppet.enc import NotEnrolled, node_classification, render


class Command(BaseCommand):
    help = "Print a node's Puppet classification (ENC YAML) from the database; usable as --external_nodes."

    def add_arguments(self, parser):
        parser.add_argument("certname")

    def handle(self, *args, certname, **options):
        try:
            self.stdout.write(render(node_classification(certname)), ending="")
        except (NotFound, NotEnrolled, ValidationError) as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(1)
