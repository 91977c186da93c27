"""pause, resume, cancel, retry, rollback, approve and reject, by id."""

import pytest

from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from tests.cli.conftest import orbiter
from tests.cli.support import created_id, host, request, run_until_status, status_of
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running(tasks):
    """A deployment of two batches, running, its first host converging (for a while)."""
    build_fleet(hosts=4, defaults={"batch_size": "2"}, converge={"duration_s": 0.3})
    deployment = request("1.1.0-1")
    return run_until_status(tasks, deployment.pk, states.RUNNING)


def test_pause_then_resume_a_running_deployment(tasks, running):
    paused = orbiter("pause", str(running.pk), "--as", "bob")

    assert paused.code == 0, paused.err
    assert paused.out == (
        f"deployment #{running.pk} paused by bob; hosts in flight finish their steps, no new ones start\n"
    )
    assert status_of(running.pk) == states.PAUSED

    resumed = orbiter("resume", str(running.pk), "--as", "bob")

    assert resumed.code == 0, resumed.err
    assert resumed.out == f"deployment #{running.pk} running: resumed by bob\n"
    assert run_until_status(tasks, running.pk, *states.COMPLETED).status == states.SUCCEEDED


def test_cancel_a_running_deployment(tasks, running):
    result = orbiter("cancel", str(running.pk))

    assert result.code == 0, result.err
    assert result.out == (
        f"deployment #{running.pk} cancelling (asked by alice): hosts in flight are finishing\n"
    )
    assert run_until_status(tasks, running.pk, *states.COMPLETED).status == states.CANCELLED
    assert "cancelled" in orbiter("status").out


def test_cancel_a_queued_deployment(tasks):
    build_fleet(hosts=2)
    deployment = request("1.1.0-1")

    result = orbiter("cancel", str(deployment.pk))

    assert result.out == f"deployment #{deployment.pk} cancelled by alice\n"
    assert status_of(deployment.pk) == states.CANCELLED


def test_resuming_a_running_deployment_is_refused_with_exit_2(running):
    result = orbiter("resume", str(running.pk))

    assert result.code == 2
    assert result.err == (
        "error: cannot resume a deployment that is running; allowed from running: "
        "cancel, fail, pause, rollback, succeed\n"
    )


def test_an_action_on_a_missing_deployment_exits_2():
    result = orbiter("pause", "404")

    assert (result.code, result.err) == (2, "error: deployment #404 does not exist\n")


def test_rollback_prints_the_new_rollback_deployment_id(tasks):
    build_fleet(hosts=2)
    first = run_until_status(tasks, request("1.0.0-1").pk, states.SUCCEEDED)
    second = run_until_status(tasks, request("1.1.0-1").pk, states.SUCCEEDED)

    result = orbiter("rollback", str(second.pk), "--as", "bob", "--reason", "error rate up")

    assert result.code == 0, result.err
    child = Deployment.objects.get(rollback_of=second)
    assert child.pk not in (first.pk, second.pk)
    assert result.out.splitlines() == [
        f"deployment #{child.pk} queued: rolls back #{second.pk}, returning its hosts to their previous "
        "version (shop-api 1.0.0-1 in cert)",
        f"deployment #{second.pk} rolling_back: error rate up",
    ]
    assert run_until_status(tasks, second.pk, states.ROLLED_BACK, states.FAILED).status == states.ROLLED_BACK


def test_rollback_of_a_deployment_that_moved_nothing_exits_2(tasks):
    build_fleet(hosts=2)
    first = run_until_status(tasks, request("1.0.0-1").pk, states.SUCCEEDED)

    result = orbiter("rollback", str(first.pk))

    assert result.code == 2
    assert result.err == (
        f"error: deployment #{first.pk} moved no pin from an earlier version: nothing to roll back\n"
    )


def test_retry_a_failed_deployment(tasks):
    build_fleet(hosts=2, converge={"fail_hosts": [host(1)]})
    deployment = run_until_status(tasks, request("1.1.0-1").pk, states.FAILED)

    result = orbiter("retry", str(deployment.pk))

    assert result.code == 0, result.err
    assert result.out == f"deployment #{deployment.pk} running: retrying 1 host(s) (asked by alice)\n"


def test_the_requester_cannot_approve_their_own_deployment(tasks):
    build_fleet(hosts=1, environment="production", requires_approval=True)
    deployment_id = created_id(orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production").out)

    result = orbiter("approve", str(deployment_id))

    assert result.code == 2
    assert result.err == (
        f"error: alice requested deployment #{deployment_id} and cannot approve it; ask someone else\n"
    )
    assert status_of(deployment_id) == states.AWAITING_APPROVAL


def test_someone_else_approves_and_the_deployment_is_queued(tasks):
    build_fleet(hosts=1, environment="production", requires_approval=True)
    deployment_id = created_id(orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production").out)

    result = orbiter("approve", str(deployment_id), "--as", "bob")

    assert result.code == 0, result.err
    assert result.out == f"deployment #{deployment_id} queued: approved by bob\n"
    assert run_until_status(tasks, deployment_id, *states.COMPLETED).status == states.SUCCEEDED


def test_reject_with_a_reason(tasks):
    build_fleet(hosts=1, environment="production", requires_approval=True)
    deployment_id = created_id(orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production").out)

    result = orbiter("reject", str(deployment_id), "--as", "bob", "--reason", "not during the sale")

    assert result.code == 0, result.err
    assert result.out == f"deployment #{deployment_id} rejected by bob: not during the sale\n"
    assert status_of(deployment_id) == states.REJECTED


def test_a_waited_deployment_that_is_rejected_exits_1(engine_runs_while_waiting, monkeypatch):
    build_fleet(hosts=1, environment="production", requires_approval=True)
    from orbiter.core.management import ops
    from orbiter.deployments import services

    looks = []
    waiting = ops.sleep

    def sleep_then_reject(seconds):
        looks.append(seconds)
        if len(looks) == 2:
            deployment = Deployment.objects.get()
            services.deployment_reject(deployment_id=deployment.pk, actor="bob", reason="no")
        waiting(seconds)

    monkeypatch.setattr(ops, "sleep", sleep_then_reject)

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production", "--wait")

    assert result.code == 1
    assert result.err.endswith("rejected by bob: no\n")
