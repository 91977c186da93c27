"""`orbiter schema`: the JSON Schema (draft 2020-12) of a fleet file's documents, for editors."""

import json

from django.core.management.base import BaseCommand

from orbiter.fleet.schema import document_schema


class Command(BaseCommand):
    help = "Print the JSON Schema of the fleet format (point your editor's YAML support at it)."
    requires_system_checks = []

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(document_schema(), indent=2))
