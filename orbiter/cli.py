"""The `orbiter` command.

    orbiter demo                     one-shot demo on a temporary SQLite database
    orbiter standalone [--demo N]    everything in one process (web + worker + sweeper)
    orbiter worker | scheduler | web the production processes (Celery worker, Celery beat, gunicorn)
    orbiter login [URL] | logout     client mode: store / forget a server's URL and your API token
    orbiter plan|deploy|status|approve|reject|pause|resume|cancel|retry|rollback ...
                                     deployment operations: through the server's REST API when
                                     logged in or ORBITER_URL is set, else on the database (--local
                                     forces the database)
    orbiter inventory sources | sync [SOURCE] [--dry-run]   hosts from PuppetDB (docs/inventory.md)
    orbiter apply -f PATH [--diff] [--prune]   the fleet as code (docs/fleet.md); export prints it;
    orbiter export [--kind KIND]     both through the API when logged in, else on the database
    orbiter schema                   the fleet format's JSON Schema, for editors
    orbiter lock|unlock|history ...  client mode only
    orbiter <any Django management command>   e.g. migrate, createsuperuser

`orbiter <command> --help` for a command's options; docs/cli.md for exit codes and CI use.
"""

import os
import sys
import tempfile

# Commands client mode answers (orbiter/client/): always for the first set, and for the
# second when a server is configured (a stored login or ORBITER_URL) and --local is not given.
CLIENT_ONLY = frozenset({"login", "logout", "lock", "unlock", "history"})
CLIENT_OR_LOCAL = frozenset({"plan", "deploy", "status", "approve", "reject", "pause", "resume", "cancel",
                             "retry", "rollback", "apply", "export", "inventory"})


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "help"
    if command in CLIENT_OR_LOCAL and "--local" in argv:
        argv.remove("--local")
    elif command in CLIENT_ONLY or (command in CLIENT_OR_LOCAL and _client_configured()):
        from orbiter.client.commands import main as client_main

        sys.exit(client_main(argv))
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
    if command == "schema":  # no settings needed: editors and CI ask for it anywhere
        import json

        from orbiter.fleet.schema import document_schema

        print(json.dumps(document_schema(), indent=2))
        return
    if command in ("help", "-h", "--help"):
        print(__doc__)
        return

    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["orbiter", *argv])
    except ImproperlyConfigured as error:
        hint = " or `orbiter login URL` to use a server's API" if command in CLIENT_OR_LOCAL else ""
        sys.exit(f"error: {error} (see README: 'Run it for real'; ORBITER_MODE=standalone for a local trial{hint})")


def _client_configured() -> bool:
    from orbiter.client.credentials import configured

    return configured()


if __name__ == "__main__":
    main()
