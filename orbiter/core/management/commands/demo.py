import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand
from rich.console import Console

from orbiter.catalog.services import fleet_create_demo
from orbiter.core.demo import run_demo
from orbiter.core.runtime import InProcessWorker


class Command(BaseCommand):
    help = "One-shot demo: build a simulated fleet in a temporary database and deploy two versions through it."

    def add_arguments(self, parser):
        parser.add_argument("--hosts", type=int, default=4, help="simulated hosts per environment (default 4)")
        parser.add_argument("--converge", type=float, default=0.5, help="seconds a simulated converge takes")
        parser.add_argument("--transient-rate", type=float, default=0.1,
                            help="share of simulated Puppet runs that fail transiently and are retried")

    def handle(self, *args, hosts, converge, transient_rate, **options):
        console = Console(highlight=False)
        call_command("migrate", verbosity=0)
        app = fleet_create_demo(hosts_per_environment=hosts, converge_seconds=converge,
                                transient_rate=transient_rate)
        console.print(f"demo fleet: {app.name} on {hosts} simulated host(s) in each of cert, test, production")
        worker = InProcessWorker().start()
        try:
            ok = run_demo(console)
        finally:
            worker.stop()
        sys.exit(0 if ok else 1)
