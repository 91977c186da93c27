"""The two state machines: every legal move, every illegal one, and how a move is recorded."""

import pytest
from django.db import transaction

from orbiter.audit.models import Event
from orbiter.common.errors import Conflict, IllegalTransition
from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from orbiter.deployments.transitions import transition_deployment
from tests.conftest import build_fleet
from tests.deployments.support import request

# Written from ARCHITECTURE.md ("Deployment lifecycle") and the comments in states.py, on
# purpose not derived from the declaration: a changed declaration must fail here.
EXPECTED_DEPLOYMENT = {
    ("pending", "require_approval"): "awaiting_approval",
    ("pending", "accept"): "queued",
    ("pending", "refuse"): "rejected",
    ("awaiting_approval", "approve"): "queued",
    ("awaiting_approval", "reject"): "rejected",
    ("awaiting_approval", "cancel"): "cancelled",
    ("queued", "start"): "running",
    ("queued", "cancel"): "cancelled",
    ("running", "pause"): "paused",
    ("running", "succeed"): "succeeded",
    ("running", "fail"): "failed",
    ("running", "cancel"): "cancelled",
    ("running", "rollback"): "rolling_back",
    ("paused", "resume"): "running",
    ("paused", "fail"): "failed",
    ("paused", "cancel"): "cancelled",
    ("paused", "rollback"): "rolling_back",
    ("failed", "retry"): "running",
    ("failed", "rollback"): "rolling_back",
    ("succeeded", "rollback"): "rolling_back",
    ("cancelled", "rollback"): "rolling_back",
    ("rolling_back", "finish_rollback"): "rolled_back",
    ("rolling_back", "fail"): "failed",
}
DEPLOYMENT_STATUSES = [
    "pending",
    "awaiting_approval",
    "queued",
    "running",
    "paused",
    "succeeded",
    "failed",
    "cancelled",
    "rejected",
    "rolling_back",
    "rolled_back",
]
DEPLOYMENT_EVENTS = sorted({event for _, event in EXPECTED_DEPLOYMENT})

EXPECTED_HOST = {
    ("pending", "drain"): "draining",
    ("pending", "skip"): "skipped",
    ("pending", "fail"): "failed",
    ("draining", "converge"): "converging",
    ("draining", "fail"): "failed",
    ("draining", "abort"): "enabling",
    ("enabling", "release"): "skipped",
    ("converging", "verify"): "verifying",
    ("converging", "fail"): "failed",
    ("verifying", "enable"): "enabling",
    ("verifying", "fail"): "failed",
    ("enabling", "finish"): "done",
    ("enabling", "fail"): "failed",
    ("failed", "retry"): "pending",
    ("skipped", "retry"): "pending",
}
HOST_STATUSES = [
    "pending",
    "draining",
    "converging",
    "verifying",
    "enabling",
    "done",
    "failed",
    "skipped",
]
HOST_EVENTS = sorted({event for _, event in EXPECTED_HOST})

MACHINES = {
    "deployment": (
        EXPECTED_DEPLOYMENT,
        states.DEPLOYMENT_TRANSITIONS,
        DEPLOYMENT_STATUSES,
        DEPLOYMENT_EVENTS,
    ),
    "host": (EXPECTED_HOST, states.HOST_TRANSITIONS, HOST_STATUSES, HOST_EVENTS),
}


def _every_pair(kind: str):
    expected, declared, _, _ = MACHINES[kind]
    return [(kind, status, event) for status, event in sorted(set(expected) | set(declared))]


def _illegal_pairs(kind: str):
    expected, _, statuses, events = MACHINES[kind]
    return [(kind, s, e) for s in statuses for e in events if (s, e) not in expected]


@pytest.mark.parametrize(
    ("kind", "status", "event"), _every_pair("deployment") + _every_pair("host")
)
def test_it_declares_each_legal_transition_as_designed(kind, status, event):
    expected, declared, _, _ = MACHINES[kind]
    assert declared.get((status, event)) == expected.get((status, event))
    assert states.target(kind, status, event) == expected[(status, event)]


def test_it_knows_exactly_the_designed_statuses():
    assert sorted(states.DEPLOYMENT_STATUSES) == sorted(DEPLOYMENT_STATUSES)
    assert sorted(states.HOST_STATUSES) == sorted(HOST_STATUSES)


def test_the_status_groups_match_the_lifecycle():
    assert states.ACTIVE == {
        "pending",
        "awaiting_approval",
        "queued",
        "running",
        "paused",
        "rolling_back",
    }
    assert states.COMPLETED == {"succeeded", "failed", "cancelled", "rejected", "rolled_back"}
    assert states.IN_FLIGHT == {"draining", "converging", "verifying", "enabling"}
    assert states.HOST_TERMINAL == {"done", "failed", "skipped"}


@pytest.mark.parametrize(
    ("kind", "status", "event"), _illegal_pairs("deployment") + _illegal_pairs("host")
)
def test_it_refuses_an_illegal_transition_naming_status_event_and_what_is_allowed(
    kind, status, event
):
    expected = MACHINES[kind][0]
    allowed = sorted(e for (s, e) in expected if s == status)

    with pytest.raises(IllegalTransition) as refused:
        states.target(kind, status, event)

    message = refused.value.message
    assert event in message and status in message and kind in message
    if allowed:
        assert ", ".join(allowed) in message
    else:
        assert "final" in message
    assert refused.value.extra == {"status": status, "event": event}


def _awaiting_approval() -> Deployment:
    build_fleet(hosts=2, requires_approval=True)
    deployment = request("1.1.0-1")
    assert deployment.status == states.AWAITING_APPROVAL
    return deployment


@pytest.mark.django_db
def test_a_transition_writes_exactly_one_event_with_before_and_after():
    deployment = _awaiting_approval()
    last = Event.objects.latest("id").pk

    transition_deployment(deployment, "approve", actor="bob", message="approved by bob")

    stored = Deployment.objects.get(pk=deployment.pk)
    assert stored.status == "queued"
    assert stored.message == "approved by bob"
    [event] = Event.objects.filter(pk__gt=last)
    assert (event.verb, event.actor, event.before, event.after) == (
        "deployment.approve",
        "bob",
        "awaiting_approval",
        "queued",
    )
    assert (event.object_type, event.object_id, event.deployment_id) == (
        "deployment",
        str(deployment.pk),
        deployment.pk,
    )


@pytest.mark.django_db
def test_a_transition_and_its_event_commit_or_roll_back_together():
    deployment = _awaiting_approval()
    last = Event.objects.latest("id").pk

    with pytest.raises(RuntimeError), transaction.atomic():
        transition_deployment(deployment, "approve", actor="bob")
        raise RuntimeError("the caller's change failed")

    assert Deployment.objects.get(pk=deployment.pk).status == "awaiting_approval"
    assert not Event.objects.filter(pk__gt=last).exists()


@pytest.mark.django_db
def test_a_failed_audit_write_leaves_the_status_unchanged():
    deployment = _awaiting_approval()
    last = Event.objects.latest("id").pk

    # Callers wrap a transition in their own transaction, as the services do.
    with pytest.raises(TypeError), transaction.atomic():  # the Event's data cannot be stored
        transition_deployment(
            Deployment.objects.get(pk=deployment.pk), "approve", actor="bob", data={"x": object()}
        )

    assert Deployment.objects.get(pk=deployment.pk).status == "awaiting_approval"
    assert not Event.objects.filter(pk__gt=last).exists()


@pytest.mark.django_db
def test_a_stale_transition_raises_conflict_and_writes_no_event():
    deployment = _awaiting_approval()
    mine = Deployment.objects.get(pk=deployment.pk)
    theirs = Deployment.objects.get(pk=deployment.pk)
    transition_deployment(theirs, "approve", actor="bob")
    last = Event.objects.latest("id").pk

    with pytest.raises(Conflict) as conflict, transaction.atomic():
        transition_deployment(mine, "reject", actor="carol")

    assert f"#{deployment.pk}" in conflict.value.message
    assert Deployment.objects.get(pk=deployment.pk).status == "queued"
    assert not Event.objects.filter(pk__gt=last).exists()


@pytest.mark.django_db
def test_an_illegal_transition_changes_nothing():
    deployment = _awaiting_approval()
    last = Event.objects.latest("id").pk

    with pytest.raises(IllegalTransition), transaction.atomic():
        transition_deployment(deployment, "start", actor="bob")

    assert Deployment.objects.get(pk=deployment.pk).status == "awaiting_approval"
    assert not Event.objects.filter(pk__gt=last).exists()
