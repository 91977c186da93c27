import threading

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.core.servers.basehttp import WSGIServer, run
from django.core.wsgi import get_wsgi_application
from rich.console import Console

from orbiter.catalog.models import Application
from orbiter.catalog.services import fleet_create_demo
from orbiter.core.demo import DEMO_USER, demo_user_ensure, run_demo
from orbiter.core.runtime import InProcessWorker


class Command(BaseCommand):
    help = "Run web, worker and sweeper in one process on SQLite (evaluation and small teams)."

    def add_arguments(self, parser):
        parser.add_argument("--demo", type=int, metavar="N", default=0,
                            help="create a demo application on N simulated hosts in cert, test and production "
                                 "and roll two versions through them")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--bind", default="127.0.0.1")

    def handle(self, *args, demo, port, bind, **options):
        call_command("migrate", verbosity=0)
        InProcessWorker().start()
        if demo and not Application.objects.filter(name="shop-api").exists():
            fleet_create_demo(hosts_per_environment=demo, converge_seconds=2.0, transient_rate=0.1)
            self.stdout.write(f"demo fleet: shop-api on {demo} simulated host(s) in cert, test and production")
            threading.Thread(target=run_demo, args=(Console(),), name="orbiter-demo", daemon=True).start()
        if demo:
            password = demo_user_ensure()
            if password:
                self.stdout.write(f"sign in as user {DEMO_USER!r} with password {password!r} "
                                  "(shown only now; an admin everywhere; change it with: orbiter changepassword demo)")
            else:
                self.stdout.write(f"sign in as user {DEMO_USER!r} (its password was shown when it was created; "
                                  "reset it with: orbiter changepassword demo)")
        self.stdout.write(f"Orbiter standalone on http://{bind}:{port}/ (Ctrl-C to stop)")
        run(bind, port, get_wsgi_application(), threading=True, server_cls=WSGIServer)
