"""One active deployment per application and environment, even when requests arrive at once:
the database decides, not a check made before the transaction."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction

from orbiter.audit.models import Event
from orbiter.common.errors import PreflightRefused
from orbiter.deployments import preflight, services, states
from orbiter.deployments.models import Deployment
from tests.conftest import build_fleet
from tests.deployments.support import APP, ENV

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 20


def _at_once(count: int, **options) -> tuple[list[Deployment], list[Exception]]:
    """`count` identical requests, each on its own thread and database connection, released together."""
    start = threading.Barrier(count, timeout=30)
    created: list[Deployment] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        try:
            start.wait()
            deployment = services.deployment_create(
                application=APP, environment=ENV, version="1.1.0-1", actor=f"user{n}", **options
            )
            with lock:
                created.append(deployment)
        except Exception as error:  # noqa: BLE001 - every outcome is asserted below
            with lock:
                refused.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a request is still running after 60 s"
    return created, refused


def test_twenty_requests_at_once_create_one_deployment_and_refuse_nineteen_saying_why(tasks):
    build_fleet(hosts=2, requires_approval=True)

    created, refused = _at_once(REQUESTS)

    assert len(created) == 1, [d.pk for d in created]
    assert Deployment.objects.count() == 1
    assert Deployment.objects.get().status == states.AWAITING_APPROVAL
    assert len(refused) == REQUESTS - 1
    assert all(isinstance(e, PreflightRefused) and e.code == "deployment_in_progress" for e in refused), refused
    assert all(f"deployment #{created[0].pk} of {APP}" in e.message for e in refused)
    assert Event.objects.filter(verb="deployment.refused").count() == REQUESTS - 1


def test_twenty_requests_at_once_asking_to_queue_line_up_behind_each_other(tasks):
    build_fleet(hosts=2, requires_approval=True)

    created, refused = _at_once(REQUESTS, queue=True)

    assert refused == []
    assert len(created) == REQUESTS
    waiting = list(Deployment.objects.order_by("id"))
    assert waiting[0].queued_behind_id is None
    # each one queues behind one that was there before it: one line, no second head
    assert [d.queued_behind_id for d in waiting[1:]] == [d.pk for d in waiting[:-1]]


def test_the_database_itself_refuses_a_second_deployment_waiting_for_the_same_target():
    build_fleet(hosts=2, requires_approval=True)
    first = services.deployment_create(application=APP, environment=ENV, version="1.1.0-1", actor="alice")

    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.create(application=first.application, environment=first.environment,
                                  artifact=first.artifact, requested_by_name="mallory",
                                  status=states.AWAITING_APPROVAL)


def test_a_deployment_asked_to_queue_may_wait_beside_the_one_it_queues_behind():
    build_fleet(hosts=2, requires_approval=True)
    first = services.deployment_create(application=APP, environment=ENV, version="1.0.0-1", actor="alice")

    second = services.deployment_create(application=APP, environment=ENV, version="1.1.0-1", actor="bob",
                                        queue=True)

    assert (first.status, second.status) == (states.AWAITING_APPROVAL, states.AWAITING_APPROVAL)
    assert second.queued_behind_id == first.pk


def test_on_sqlite_too_twenty_requests_at_once_create_one_deployment_and_the_index_holds(tmp_path):
    """Standalone runs on SQLite: the same race, in a process of its own with its own database."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.deployments.sqlite_race", str(tmp_path / "race.sqlite3")],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]

    outcome = json.loads(done.stdout.strip().splitlines()[-1])

    assert outcome == {"created": 1, "rows": 1, "refused": ["deployment_in_progress"], "refusals": REQUESTS - 1,
                       "second_insert": "refused"}


def test_a_request_the_index_refuses_is_checked_again_and_refused_with_the_message(monkeypatch):
    """Should the check ever miss the deployment ahead (the index is the database's own
    guarantee), the request still ends as the documented refusal, not a database error."""
    build_fleet(hosts=2, requires_approval=True)
    first = services.deployment_create(application=APP, environment=ENV, version="1.0.0-1", actor="alice")
    real_check, calls = preflight.check, []

    def blind_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:  # as if it had not seen #first: the insert meets the index
            return real_check(**kwargs, exclude=first)
        return real_check(**kwargs)

    monkeypatch.setattr(preflight, "check", blind_once)

    with pytest.raises(PreflightRefused) as refused:
        services.deployment_create(application=APP, environment=ENV, version="1.1.0-1", actor="bob")

    assert len(calls) == 2
    assert refused.value.code == "deployment_in_progress" and f"deployment #{first.pk}" in refused.value.message
    assert list(Deployment.objects.values_list("pk", flat=True)) == [first.pk]
