import argparse
import sys

from django.core.management.base import BaseCommand

from orbiter.common.errors import OrbiterError
from orbiter.sources.selectors import repositories, repository_get
from orbiter.sources.services import repository_create, repository_poll


def _seconds(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; give whole seconds, e.g. 60")
    return int(text)


class Command(BaseCommand):
    help = (
        "Yum repositories Orbiter watches for new builds. "
        "add NAME URL [--app APP]... [--interval S] | list | poll [NAME]... [--force]. "
        "poll exits 1 when a repository could not be read."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["add", "list", "poll"])
        parser.add_argument("words", nargs="*", metavar="ARG",
                            help="add: NAME URL; poll: repository names (default: every enabled one)")
        parser.add_argument("--app", dest="applications", action="append", default=[],
                            help="with add: feed only this application (repeatable; default: every application "
                                 "whose package is in the repository)")
        parser.add_argument("--interval", type=_seconds, default=60, help="with add: seconds between polls (default 60)")
        parser.add_argument("--disabled", action="store_true", help="with add: do not poll on schedule")
        parser.add_argument("--force", action="store_true",
                            help="with poll: read the metadata even if the server says it has not changed")
        parser.add_argument("--as", dest="actor", default="admin")

    def handle(self, *args, action, words, applications, interval, disabled, force, actor, **options):
        try:
            if action == "add":
                if len(words) != 2:
                    self.stderr.write("error: add needs NAME and URL, e.g. repos add el9 https://repo.example/el9/")
                    sys.exit(2)
                repo = repository_create(name=words[0], base_url=words[1], actor=actor, applications=applications,
                                         poll_interval_s=interval, enabled=not disabled)
                self.stdout.write(f"{repo.name}: added, polled every {repo.poll_interval_s}s from {repo.base_url}")
            elif action == "list":
                self._list()
            else:
                targets = [repository_get(n) for n in words] or [r for r in repositories() if r.enabled]
                failed = 0
                for repo in targets:
                    result = repository_poll(repository=repo, force=force)
                    if result.error:
                        failed += 1
                        self.stderr.write(f"error: {result.error}")
                        continue
                    news = ", ".join(result.registered) if result.registered else "nothing new"
                    self.stdout.write(f"{repo.name}: {news}" + ("" if result.changed else " (not modified)"))
                    for line in result.skipped:
                        self.stderr.write(f"warning: {repo.name}: skipped {line}")
                if failed:
                    sys.exit(1)
        except OrbiterError as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(2)

    def _list(self):
        self.stdout.write(f"{'name':20} {'every':>6} {'last success':20} {'found':>5} {'feeds':24} url / last error")
        for repo in repositories():
            feeds = ",".join(a.name for a in repo.applications.all()) or "(by package)"
            success = f"{repo.last_success_at:%Y-%m-%d %H:%M:%S}" if repo.last_success_at else "never"
            state = "" if repo.enabled else " (disabled)"
            self.stdout.write(
                f"{repo.name:20} {repo.poll_interval_s:>5}s {success:20} {repo.last_found:>5} {feeds:24} "
                f"{repo.base_url}{state}"
            )
            if repo.last_error:
                self.stdout.write(f"{'':20} error at {repo.last_error_at:%Y-%m-%d %H:%M:%S}: {repo.last_error}")
