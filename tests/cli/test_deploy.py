"""`orbiter deploy`: request a deployment, optionally follow it to its end."""

import pytest

from orbiter.audit.models import Event
from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from tests.cli.conftest import orbiter
from tests.cli.support import created_id, host, request, run_until_status, status_of
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db(transaction=True)


def test_deploy_prints_the_new_deployment_id_and_exits_0(tasks):
    build_fleet(hosts=2)

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--comment", "ship it")

    assert result.code == 0, result.err
    deployment = Deployment.objects.get()
    assert result.out == f"deployment #{deployment.pk} queued: shop-api 1.1.0-1 to cert\n"
    assert deployment.comment == "ship it"
    assert deployment.requested_by_name == "alice"


def test_deploy_passes_only_the_strategy_flags_given(tasks):
    build_fleet(hosts=4, defaults={"batch_size": "2"})

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--canary", "--failure-budget", "1")

    strategy = Deployment.objects.get(pk=created_id(result.out)).strategy
    assert (strategy["batch_size"], strategy["canary"], strategy["failure_budget"]) == ("2", True, "1")


def test_the_requester_is_as_then_orbiter_user_then_the_login_name(tasks, monkeypatch):
    build_fleet(hosts=1, versions=("1.0.0-1", "1.1.0-1", "1.2.0-1"))
    first = orbiter("deploy", "shop-api", "1.0.0-1", "--env", "cert", "--as", "bob")
    run_until_status(tasks, created_id(first.out), *states.COMPLETED)
    second = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert")
    run_until_status(tasks, created_id(second.out), *states.COMPLETED)
    monkeypatch.delenv("ORBITER_USER")
    monkeypatch.setattr("getpass.getuser", lambda: "carol")
    third = orbiter("deploy", "shop-api", "1.2.0-1", "--env", "cert")

    names = [Deployment.objects.get(pk=created_id(r.out)).requested_by_name for r in (first, second, third)]
    assert names == ["bob", "alice", "carol"]


def test_an_empty_as_is_refused_naming_the_flag(tasks):
    build_fleet(hosts=1)

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--as", " ")

    assert (result.code, result.err) == (2, "error: --as: give a name, e.g. --as alice\n")
    assert not Deployment.objects.exists()


def test_an_unknown_version_is_refused_with_exit_2_and_the_reason(tasks):
    build_fleet(hosts=2)

    result = orbiter("deploy", "shop-api", "2.0.0-1", "--env", "cert")

    assert result.code == 2
    assert result.out == ""
    assert result.err == (
        "error: unknown version '2.0.0-1' of shop-api; give version-release. "
        "Newest known: 1.1.0-1, 1.0.0-1 (code: unknown_artifact)\n"
    )
    assert not Deployment.objects.exists()
    assert Event.objects.filter(verb="deployment.refused", actor="alice").exists()


def test_a_downgrade_is_refused_with_exit_2_and_the_reason(tasks):
    build_fleet(hosts=2)
    run_until_status(tasks, request("1.1.0-1").pk, states.SUCCEEDED)

    result = orbiter("deploy", "shop-api", "1.0.0-1", "--env", "cert")

    assert result.code == 2
    assert "error: 1.0.0-1 is older than 1.1.0-1, already pinned in cert" in result.err
    assert result.err.rstrip().endswith("(code: downgrade)")


def test_a_second_deployment_is_refused_unless_it_asks_to_queue(tasks):
    build_fleet(hosts=2, versions=("1.0.0-1", "1.1.0-1", "1.2.0-1"))
    ahead = request("1.1.0-1")

    refused = orbiter("deploy", "shop-api", "1.2.0-1", "--env", "cert")
    queued = orbiter("deploy", "shop-api", "1.2.0-1", "--env", "cert", "--queue")

    assert refused.code == 2
    assert "(code: deployment_in_progress)" in refused.err
    assert queued.code == 0
    assert queued.out.endswith(f"queued: shop-api 1.2.0-1 to cert (queued behind #{ahead.pk})\n")


def test_deploying_where_approval_is_required_says_who_may_approve(tasks):
    build_fleet(hosts=1, environment="production", requires_approval=True)

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production")

    deployment_id = created_id(result.out)
    assert result.code == 0
    assert result.out == (
        f"deployment #{deployment_id} awaiting approval: shop-api 1.1.0-1 to production; someone other "
        f"than alice approves it with: orbiter approve {deployment_id}\n"
    )
    assert status_of(deployment_id) == states.AWAITING_APPROVAL


def test_wait_follows_the_deployment_and_exits_0_when_it_succeeds(engine_runs_while_waiting):
    build_fleet(hosts=4, defaults={"batch_size": "2"})

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--wait", "--timeout", "20")

    deployment_id = created_id(result.out)
    assert result.code == 0, result.err
    assert status_of(deployment_id) == states.SUCCEEDED
    lines = result.out.splitlines()
    assert lines[-1] == f"deployment #{deployment_id} succeeded (4 done)"
    assert f"#{deployment_id} succeeded: batch 2/2, 4 done, 0 in flight, 0 failed - succeeded (4 done)" in lines[-2]
    assert len(lines) == len(set(lines))  # one line per change


def test_a_wait_that_ends_failed_exits_1(engine_runs_while_waiting):
    build_fleet(hosts=2, converge={"fail_hosts": [host(1)]})

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--wait", "--timeout", "20")

    deployment_id = created_id(result.out)
    assert result.code == 1
    assert status_of(deployment_id) == states.FAILED
    assert result.err.startswith(f"deployment #{deployment_id} failed: failure budget exceeded")


def test_a_wait_that_times_out_exits_3_and_the_deployment_carries_on(tasks):
    # Nothing runs the engine here: the deployment stays queued.
    build_fleet(hosts=2)

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--wait", "--timeout", "0.2")

    deployment_id = created_id(result.out)
    assert result.code == 3
    assert result.err == (
        f"error: gave up waiting after 0.2 s; deployment #{deployment_id} is still queued and carries on "
        f"(orbiter status {deployment_id})\n"
    )
    assert status_of(deployment_id) == states.QUEUED


def test_a_timeout_without_wait_is_refused_naming_the_flag(tasks):
    build_fleet(hosts=2)

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--timeout", "5")

    assert (result.code, result.err) == (2, "error: --timeout: only meaningful with --wait\n")
    assert not Deployment.objects.exists()


def test_an_unreachable_broker_does_not_undo_a_recorded_deployment(monkeypatch, caplog):
    from celery.app.task import Task
    from kombu.exceptions import OperationalError

    def broker_down(self, *args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Task, "apply_async", broker_down)
    build_fleet(hosts=2)

    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert")

    deployment = Deployment.objects.get()
    assert result.code == 0
    assert result.out == f"deployment #{deployment.pk} queued: shop-api 1.1.0-1 to cert\n"
    assert "the sweeper will advance it" in caplog.text
