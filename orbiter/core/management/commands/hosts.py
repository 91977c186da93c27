from django.core.management.base import BaseCommand

from orbiter.catalog.models import Host
from orbiter.catalog.selectors import host_versions


class Command(BaseCommand):
    help = "Hosts with the version pinned and the version their agent reports installed; drift flagged."

    def add_arguments(self, parser):
        parser.add_argument("--env", default=None, help="only this environment")
        parser.add_argument("--drift", action="store_true", help="only hosts whose installed version differs")

    def handle(self, *args, env, drift, **options):
        seen = dict(Host.objects.values_list("certname", "last_seen_at"))
        self.stdout.write(f"{'host':40} {'env':12} {'package':20} {'pinned':14} {'installed':14} last seen")
        for row in host_versions(environment=env):
            if drift and not row.drift:
                continue
            installed = row.installed or ("-" if row.reported else "?")
            last = seen.get(row.certname)
            last_text = f"{last:%Y-%m-%d %H:%M:%S}" if last else "never"
            flag = "  DRIFT" if row.drift else ""
            self.stdout.write(
                f"{row.certname:40} {row.environment:12} {row.package:20} {row.pinned or '-':14} "
                f"{installed:14} {last_text}{flag}"
            )
