import argparse
import json
import sys

from django.core.management.base import BaseCommand

from orbiter.catalog.models import Application
from orbiter.common.errors import OrbiterError
from orbiter.deployments.preflight import find_artifact
from orbiter.metrics.selectors import MAX_DAYS, dora, lead_time


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; give whole days from 1 to {MAX_DAYS}")
    return int(text)


class Command(BaseCommand):
    help = (
        "Delivery metrics. dora (default): deployment frequency, lead time, change failure rate and "
        "time to restore per application and environment. lead-time APPLICATION VERSION: "
        "one build's way from found to production."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=["dora", "lead-time"], default="dora")
        parser.add_argument("build", nargs="*", metavar="APPLICATION VERSION",
                            help="with lead-time: the application and the build's version-release")
        parser.add_argument("--application", default=None, help="with dora: only this application")
        parser.add_argument("--environment", default=None, help="with dora: only this environment")
        parser.add_argument("--days", type=_days, default=30, help="with dora: the window (default 30)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the JSON the API returns")

    def handle(self, *args, action, build, application, environment, days, as_json, **options):
        try:
            report = (self._lead_time(build) if action == "lead-time"
                      else dora(application=application, environment=environment, days=days))
        except OrbiterError as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(2)
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
        elif action == "lead-time":
            self._print_lead_time(report)
        else:
            self._print_dora(report)

    def _lead_time(self, build):
        if len(build) != 2:
            raise OrbiterError("lead-time needs APPLICATION and VERSION, e.g. lead-time shop-api 1.2.0-1")
        application, version = build
        app = Application.objects.filter(name=application).first()
        if app is None:
            known = ", ".join(Application.objects.values_list("name", flat=True)[:20]) or "none yet"
            raise OrbiterError(f"application: {application!r} is unknown; known: {known}")
        return lead_time(find_artifact(app, version))

    def _print_dora(self, report):
        self.stdout.write(f"window: {report['window_days']} days, since {report['since']}")
        self.stdout.write(f"{'application':20} {'env':12} {'deploys':>7} {'per day':>8} {'lead p50':>9} "
                          f"{'lead p90':>9} {'fail rate':>9} {'restore p50':>11} {'unrestored':>10}")
        for g in report["groups"]:
            rate = "-" if g["change_failure_rate"] is None else f"{g['change_failure_rate']:.0%}"
            self.stdout.write(
                f"{g['application']:20} {g['environment']:12} {g['deployments']:>7} "
                f"{g['deployment_frequency_per_day']:>8.2f} {_duration(g['lead_time_s']['median']):>9} "
                f"{_duration(g['lead_time_s']['p90']):>9} {rate:>9} "
                f"{_duration(g['time_to_restore_s']['median']):>11} {g['unrestored']:>10}"
            )

    def _print_lead_time(self, report):
        self.stdout.write(f"{report['artifact']}: found {report['found_at']}")
        for stage in report["stages"]:
            state = stage["status"] or "not deployed"
            deployed = (f"deployed after {_duration(stage['deployed_after_s'])}" if stage["deployed_at"]
                        else state)
            gates = (f", gates passed after {_duration(stage['gates_passed_after_s'])}"
                     if stage["gates_passed_at"] else "")
            self.stdout.write(f"  {stage['environment']:12} {deployed}{gates}")
        total = _duration(report["lead_time_s"]) if report["lead_time_s"] is not None else "not yet"
        self.stdout.write(f"lead time to {report['production'] or 'production'}: {total}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
