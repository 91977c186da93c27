"""`orbiter export [--kind KIND ...]`: print the catalog in the fleet format (docs/fleet.md).
`orbiter apply -f` of the output changes nothing."""

from orbiter.core.management.ops import OK, OpsCommand
from orbiter.fleet import render
from orbiter.fleet.schema import KINDS


class Command(OpsCommand):
    help = "Print the catalog as a fleet file (the format orbiter apply reads)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", action="append", choices=KINDS, metavar="KIND",
                            help=f"only these kinds (repeatable): {', '.join(KINDS)}")

    def run(self, *, kind, **_):
        from orbiter.fleet.export import fleet_export

        self.stdout.write(render.as_yaml(fleet_export(kind)), ending="")
        return OK
