"""`orbiter apply -f PATH [--diff] [--prune]`: make the catalog what the fleet files say.

    -f PATH    a YAML file, a directory of *.yaml/*.yml files (sorted), or - for stdin
    --diff     print what would change, object by object and field by field; change nothing
    --prune    also delete the objects of the kinds the files name that they no longer list
    --json     the diff as JSON (as the API answers)

One transaction: an error anywhere leaves nothing written. Exit codes: 0 done (or the diff
printed), 2 refused or invalid, each problem on stderr as "error: FILE (document N): PATH: ...".
docs/fleet.md describes the format.
"""

import sys

from orbiter.core.management.ops import OK, OpsCommand, add_actor_argument
from orbiter.fleet import render


class Command(OpsCommand):
    help = "Apply fleet files (environments, applications, pools, hosts, host sources, pipelines, role bindings)."

    def add_arguments(self, parser):
        parser.add_argument("-f", "--file", required=True, metavar="PATH",
                            help="a YAML file, a directory of them, or - for stdin")
        parser.add_argument("--diff", action="store_true", help="show what would change; change nothing")
        parser.add_argument("--prune", action="store_true",
                            help="delete objects of the kinds the files name that they do not list")
        parser.add_argument("--json", action="store_true", help="print the diff as JSON")
        add_actor_argument(parser)

    def run(self, *, file, diff, prune, json, **_):
        from orbiter.fleet import documents
        from orbiter.fleet.apply import fleet_apply
        from orbiter.fleet.errors import FleetError

        actor = self.actor()
        try:
            if file == "-":
                found = documents.parse_text((self.stdin if hasattr(self, "stdin") else sys.stdin).read(), "stdin")
            else:
                found = documents.read_path(file)
            outcome = fleet_apply(documents=found, actor=actor, prune=prune, dry_run=diff)
        except FleetError as error:
            for line in render.problem_lines(error.extra["problems"]):
                self.stderr.write(f"error: {line}")
            raise SystemExit(2) from None
        if json:
            self.json(outcome.as_dict())
        else:
            for line in render.diff_lines(outcome.as_dict()):
                self.say(line)
        return OK
