import argparse
import json
import sys

from django.core.management.base import BaseCommand

from orbiter.common.errors import OrbiterError
from orbiter.core.management.ops import add_actor_argument, local_actor
from orbiter.inventory import render, selectors
from orbiter.inventory.puppetdb import PuppetDBError
from orbiter.inventory.sync import source_sync


class Command(BaseCommand):
    help = ("Hosts from PuppetDB. sources: each host source's hosts, last good sync and error. "
            "sync [SOURCE] [--dry-run]: sync one source (default: every enabled one) and print the diff. "
            "Exits 1 when PuppetDB could not be read, 2 on a usage error.")

    def add_arguments(self, parser: argparse.ArgumentParser):
        parser.add_argument("action", choices=["sources", "sync"])
        parser.add_argument("source", nargs="?", help="with sync: the source's name (default: every enabled one)")
        parser.add_argument("--dry-run", action="store_true", help="with sync: print the diff, change nothing")
        parser.add_argument("--json", action="store_true", help="print JSON")
        add_actor_argument(parser)

    def handle(self, *args, action, source, dry_run, json, actor, **options):
        try:
            if action == "sources":
                if source:
                    raise OrbiterError("sources takes no SOURCE; orbiter inventory sources lists them all")
                self._sources(json)
            else:
                sys.exit(self._sync(source, dry_run=dry_run, as_json=json, actor=local_actor(actor)))
        except OrbiterError as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(2)

    def _sources(self, as_json: bool) -> None:
        rows = [source_row(found) for found in selectors.sources()]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
        else:
            self.stdout.write("\n".join(render.source_lines(rows)))

    def _sync(self, name: str | None, *, dry_run: bool, as_json: bool, actor: str) -> int:
        targets = [selectors.source_get(name)] if name else [s for s in selectors.sources() if s.enabled]
        if not targets:
            self.stderr.write("no enabled host source; add one with orbiter apply (kind HostSource) or the admin")
            return 0
        failed, diffs = 0, []
        for found in targets:
            try:
                diff = source_sync(found, actor=actor, dry_run=dry_run).as_dict()
            except PuppetDBError as error:
                failed += 1
                self.stderr.write(f"error: {found.name}: {error.message}")
                continue
            diffs.append(diff)
            if not as_json:
                self.stdout.write("\n".join(render.diff_lines(diff)))
        if as_json:
            self.stdout.write(json.dumps(diffs, indent=2))
        return 1 if failed else 0


def source_row(found) -> dict:
    return {"name": found.name, "environment": found.environment.name, "active_hosts": found.active_hosts,
            "retired_hosts": found.retired_hosts, "enabled": found.enabled,
            "last_success_at": found.last_success_at.isoformat() if found.last_success_at else None,
            "last_error": found.last_error}
