"""Other apps (pipelines, notifications) learn that a deployment finished through one
signal, sent once per finished deployment, whatever ended it."""

import pytest

from orbiter.deployments import services, states
from orbiter.deployments.signals import deployment_finished
from tests.conftest import build_fleet
from tests.deployments.support import deploy, request, run_to_end

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished():
    seen = []

    def receiver(sender, deployment, **kwargs):
        seen.append((deployment.pk, deployment.status))

    deployment_finished.connect(receiver)
    yield seen
    deployment_finished.disconnect(receiver)


def test_a_deployment_that_succeeds_is_announced_once_with_its_final_status(tasks, finished):
    build_fleet(hosts=3)
    deployment = deploy(tasks, "1.1.0-1")
    assert deployment.status == states.SUCCEEDED
    assert finished == [(deployment.pk, states.SUCCEEDED)]


def test_a_deployment_cancelled_before_it_started_is_announced(tasks, finished):
    build_fleet(hosts=2, requires_approval=True)
    deployment = request("1.1.0-1")
    services.deployment_cancel(deployment_id=deployment.pk, actor="alice")
    assert finished == [(deployment.pk, states.CANCELLED)]


def test_a_failing_receiver_does_not_stop_the_deployment(tasks, finished):
    def broken(sender, deployment, **kwargs):
        raise RuntimeError("receiver bug")

    deployment_finished.connect(broken)
    try:
        build_fleet(hosts=2)
        deployment = deploy(tasks, "1.1.0-1")
    finally:
        deployment_finished.disconnect(broken)
    assert deployment.status == states.SUCCEEDED
    assert finished == [(deployment.pk, states.SUCCEEDED)]


def test_every_status_change_is_announced_in_order_after_commit(tasks):
    from orbiter.deployments.signals import deployment_transitioned

    seen = []

    def receiver(sender, deployment, event, before, after, actor, **kwargs):
        seen.append((event, before, after, actor))

    deployment_transitioned.connect(receiver)
    try:
        build_fleet(hosts=2, requires_approval=True)
        deployment = request("1.1.0-1", actor="alice")
        services.deployment_approve(deployment_id=deployment.pk, actor="bob")
        deployment = run_to_end(tasks, deployment)
    finally:
        deployment_transitioned.disconnect(receiver)
    assert deployment.status == states.SUCCEEDED
    assert [(e, b, a) for e, b, a, _ in seen] == [
        ("require_approval", "pending", "awaiting_approval"),
        ("approve", "awaiting_approval", "queued"),
        ("start", "queued", "running"),
        ("succeed", "running", "succeeded"),
    ]
    assert [actor for *_, actor in seen][:2] == ["alice", "bob"]
