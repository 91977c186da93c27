"""The `orbiter` command.

    orbiter demo                     one-shot demo on a temporary SQLite database
    orbiter standalone [--demo N]    everything in one process (web + worker + sweeper)
    orbiter worker | scheduler | web the production processes (Celery worker, Celery beat, gunicorn)
    orbiter plan|deploy|status|pause|resume|cancel|retry|rollback ...   deployment operations
    orbiter <any Django management command>   e.g. migrate, createsuperuser
"""

import os
import sys
import tempfile


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "help"
    if command in ("standalone", "demo"):
        os.environ["ORBITER_MODE"] = "standalone"
        os.environ.setdefault("ORBITER_BROKER_URL", "memory://")
    if command == "demo" and not os.environ.get("ORBITER_DATABASE_URL"):
        os.environ.setdefault("ORBITER_LOG_LEVEL", "WARNING")
        scratch = tempfile.mkdtemp(prefix="orbiter-demo-")
        os.environ["ORBITER_DATABASE_URL"] = f"sqlite:///{scratch}/demo.sqlite3"
        os.environ.setdefault("ORBITER_DATA_DIR", scratch)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orbiter.settings")

    if command == "worker":
        from orbiter.celery import app

        app.worker_main(["worker", "--loglevel=INFO", *argv[1:]])
        return
    if command == "scheduler":
        from orbiter.celery import app

        app.start(["beat", "--loglevel=INFO", *argv[1:]])
        return
    if command == "web":
        from gunicorn.app.wsgiapp import run

        sys.argv = ["gunicorn", "orbiter.wsgi:application", *(argv[1:] or ["--bind", "127.0.0.1:8000"])]
        run()
        return
    if command in ("help", "-h", "--help"):
        print(__doc__)
        return

    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["orbiter", *argv])
    except ImproperlyConfigured as error:
        sys.exit(f"error: {error} (see README: 'Run it for real'; ORBITER_MODE=standalone for a local trial)")


if __name__ == "__main__":
    main()
