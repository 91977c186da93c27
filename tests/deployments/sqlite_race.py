"""Run as a script: 20 identical deployment requests at once on a fresh SQLite database (the
standalone mode's), each thread on its own connection; prints what came of them as JSON.

    python -m tests.deployments.sqlite_race /tmp/x.sqlite3
"""

import json
import os
import sys


def main(path: str) -> None:
    os.environ["ORBITER_DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from celery.app.task import Task
    from django.core.management import call_command

    Task.apply_async = lambda self, *args, **kwargs: None  # no broker: nothing runs the engine here
    call_command("migrate", verbosity=0)

    from orbiter.deployments.models import Deployment
    from tests.conftest import build_fleet
    from tests.deployments import test_one_active_deployment as race

    build_fleet(hosts=2, requires_approval=True)
    created, refused = race._at_once(race.REQUESTS)
    print(json.dumps({
        "created": len(created),
        "rows": Deployment.objects.count(),
        "refused": sorted({getattr(e, "code", type(e).__name__) for e in refused}),
        "refusals": len(refused),
        "second_insert": _second_insert(created[0]) if created else None,
    }))


def _second_insert(first) -> str:
    """What SQLite says to a second waiting, unqueued deployment written behind the service's back."""
    from django.db import IntegrityError, transaction

    from orbiter.deployments.models import Deployment

    try:
        with transaction.atomic():
            Deployment.objects.create(application_id=first.application_id, environment_id=first.environment_id,
                                      artifact_id=first.artifact_id, requested_by_name="mallory",
                                      status=first.status)
    except IntegrityError:
        return "refused"
    return "accepted"


if __name__ == "__main__":
    main(sys.argv[1])
