"""One deployment at a time per application and environment: the others wait their turn."""

import pytest

from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment
from tests.conftest import build_fleet
from tests.deployments.support import deployment_events, request, run_to_end, run_until_status

pytestmark = pytest.mark.django_db(transaction=True)


def _running_span(deployment: Deployment) -> tuple[int, int]:
    """Event ids of the deployment's start and of its end."""
    events = deployment_events(deployment)
    start = next(e.pk for e in events if e.after == states.RUNNING)
    end = next(e.pk for e in events if e.after in states.COMPLETED)
    return start, end


def test_queued_deployments_run_one_after_another_in_request_order(tasks):
    build_fleet(hosts=2, converge={"duration_s": 0.02}, versions=("1.0.0-1", "1.1.0-1", "1.2.0-1"))
    first = request("1.0.0-1")
    second = request("1.1.0-1", queue=True)
    third = request("1.2.0-1", queue=True)
    assert (second.queued_behind_id, third.queued_behind_id) == (first.pk, second.pk)

    spans = [_running_span(run_to_end(tasks, d)) for d in (third, second, first)][::-1]

    assert all(
        Deployment.objects.get(pk=d.pk).status == states.SUCCEEDED for d in (first, second, third)
    )
    assert spans[0][1] < spans[1][0] and spans[1][1] < spans[2][0]


def test_a_queued_deployment_says_what_it_waits_for(tasks):
    build_fleet(hosts=2, converge={"duration_s": 0.05})
    first = request("1.0.0-1", actor="bob")
    second = request("1.1.0-1", queue=True)
    run_until_status(tasks, first, states.RUNNING)

    tasks.run_until(lambda: "requested by" in Deployment.objects.get(pk=second.pk).message)

    waiting = Deployment.objects.get(pk=second.pk)
    assert waiting.status == states.QUEUED
    assert waiting.message.startswith(f"queued behind #{first.pk} (")
    assert waiting.message.endswith(", requested by bob)")
    assert run_to_end(tasks, second).status == states.SUCCEEDED


def test_two_deployments_of_an_application_never_run_at_once_whatever_the_approval_order(tasks):
    build_fleet(hosts=4, requires_approval=True, converge={"duration_s": 0.05})
    older = request("1.0.0-1", actor="alice")
    newer = request("1.1.0-1", actor="alice", queue=True)

    services.deployment_approve(deployment_id=newer.pk, actor="bob")
    run_until_status(tasks, newer, states.RUNNING)
    services.deployment_approve(deployment_id=older.pk, actor="bob")
    run_to_end(tasks, newer)
    run_to_end(tasks, older)

    (older_start, older_end), (newer_start, newer_end) = _running_span(older), _running_span(newer)
    assert older_end < newer_start or newer_end < older_start, (
        "both deployments were running at the same time"
    )
