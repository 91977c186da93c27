"""A rollback changes what runs in the environment like any deployment: where a deployment
needs approval, so does a rollback, unless an admin overrides it (recorded) or it is the
automatic rollback the approved deployment's strategy asked for."""

import pytest

from orbiter.audit.models import Event
from orbiter.common.errors import Forbidden, ValidationError
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment
from tests.conftest import build_fleet
from tests.deployments.support import (
    host,
    pins,
    request,
    run_to_end,
    run_until_status,
    set_converge_options,
)

pytestmark = pytest.mark.django_db(transaction=True)


def approved(tasks, version: str, **options) -> Deployment:
    """Requested by alice, approved by bob, run to its end."""
    deployment = request(version, **options)
    services.deployment_approve(deployment_id=deployment.pk, actor="bob")
    return run_to_end(tasks, deployment)


@pytest.fixture
def upgraded(tasks):
    """A protected environment: 1.0.0-1, then 1.1.0-1, each approved, on both hosts."""
    build_fleet(hosts=2, requires_approval=True)
    approved(tasks, "1.0.0-1")
    return approved(tasks, "1.1.0-1")


def test_a_rollback_in_a_protected_environment_waits_for_approval_before_touching_a_host(upgraded, tasks):
    child = services.deployment_rollback(deployment_id=upgraded.pk, actor="alice", reason="500s")

    assert child.status == states.AWAITING_APPROVAL
    assert "approval" in child.message
    assert not HostDeployment.objects.filter(deployment=child).exists()
    assert pins() == {host(1): "1.1.0-1", host(2): "1.1.0-1"}


def test_once_approved_the_rollback_runs_and_the_hosts_return_to_the_previous_version(upgraded, tasks):
    child = services.deployment_rollback(deployment_id=upgraded.pk, actor="alice", reason="500s")

    services.deployment_approve(deployment_id=child.pk, actor="bob")

    assert run_to_end(tasks, child).status == states.SUCCEEDED
    assert pins() == {host(1): "1.0.0-1", host(2): "1.0.0-1"}
    assert run_until_status(tasks, upgraded, states.ROLLED_BACK).status == states.ROLLED_BACK


def test_whoever_asked_for_the_rollback_cannot_approve_it(upgraded):
    child = services.deployment_rollback(deployment_id=upgraded.pk, actor="alice")

    with pytest.raises(Forbidden, match="alice requested deployment"):
        services.deployment_approve(deployment_id=child.pk, actor="alice")


def test_a_rejected_rollback_leaves_the_hosts_alone_and_the_deployment_failed_saying_why(upgraded, tasks):
    child = services.deployment_rollback(deployment_id=upgraded.pk, actor="alice")

    services.deployment_reject(deployment_id=child.pk, actor="bob", reason="not now")

    parent = run_until_status(tasks, upgraded, states.COMPLETED)
    assert parent.status == states.FAILED and f"rollback #{child.pk} rejected" in parent.message
    assert pins() == {host(1): "1.1.0-1", host(2): "1.1.0-1"}


def test_an_admin_override_skips_the_approval_and_is_recorded_with_its_reason(upgraded, tasks):
    child = services.deployment_rollback(deployment_id=upgraded.pk, actor="ada", override_approval="checkout down")

    assert child.status == states.QUEUED
    override = Event.objects.get(verb=services.APPROVAL_OVERRIDE)
    assert (override.actor, override.deployment_id, override.data["reason"]) == ("ada", child.pk, "checkout down")
    assert run_to_end(tasks, child).status == states.SUCCEEDED


def test_an_override_reason_is_at_most_500_characters_and_nothing_is_left_behind(upgraded):
    with pytest.raises(ValidationError, match="override_approval"):
        services.deployment_rollback(deployment_id=upgraded.pk, actor="ada", override_approval="x" * 501)

    assert Deployment.objects.get(pk=upgraded.pk).status == states.SUCCEEDED
    assert not Deployment.objects.filter(rollback_of=upgraded).exists()


def test_in_an_open_environment_a_rollback_starts_at_once(tasks):
    build_fleet(hosts=2)
    run_to_end(tasks, request("1.0.0-1"))
    upgraded = run_to_end(tasks, request("1.1.0-1"))

    child = services.deployment_rollback(deployment_id=upgraded.pk, actor="alice")

    assert child.status == states.QUEUED


def test_the_automatic_rollback_an_approved_deployment_asked_for_needs_no_second_approval(tasks):
    build_fleet(hosts=4, requires_approval=True)
    approved(tasks, "1.0.0-1")
    set_converge_options(fail_hosts=[host(3)])
    failing = request("1.1.0-1", strategy={"batch_size": "1", "failure_budget": "0", "auto_rollback": True})
    services.deployment_approve(deployment_id=failing.pk, actor="bob")
    run_until_status(tasks, failing, states.ROLLING_BACK)
    set_converge_options()

    assert run_until_status(tasks, failing, states.ROLLED_BACK).status == states.ROLLED_BACK
    [child] = Deployment.objects.filter(rollback_of=failing)
    assert child.status == states.SUCCEEDED and child.requested_by_name == "engine"
