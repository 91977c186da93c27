"""The engine rolling versions across a simulated fleet: batches, failures, retries,
pauses, cancel, rollback, timeouts and approval, as a user would see them."""

import pytest

from orbiter.catalog.models import Host
from orbiter.common.errors import OrbiterError
from orbiter.deployments import engine, services, states
from orbiter.deployments.models import Deployment, HostDeployment
from tests.conftest import build_fleet
from tests.deployments.support import (
    deploy,
    deployment_events,
    host,
    host_deployment,
    host_events,
    host_path,
    hosts_by_status,
    lb_admin,
    ledger,
    pins,
    reload,
    request,
    run_for,
    run_to_end,
    run_until_status,
    set_converge_options,
    status,
)

pytestmark = pytest.mark.django_db(transaction=True)

FULL_PATH = ["pending", "draining", "converging", "verifying", "enabling", "done"]


def _in_status(deployment, *wanted):
    return lambda: HostDeployment.objects.filter(deployment=deployment, status__in=wanted).exists()


def _fast_drain_polls(monkeypatch):
    # How often the engine looks at a draining member's connections; 1 s in production.
    monkeypatch.setattr(engine, "DRAIN_POLL_SECONDS", 0.05)


# --- a rollout that goes well ------------------------------------------------------------------


def test_it_rolls_a_version_out_to_every_host(tasks):
    build_fleet(hosts=4, defaults={"batch_size": "2"})

    deployment = deploy(tasks, "1.1.0-1")

    assert deployment.status == states.SUCCEEDED
    assert deployment.message == "succeeded (4 done)"
    assert deployment.started_at and deployment.finished_at >= deployment.started_at
    assert hosts_by_status(deployment) == {host(n): "done" for n in range(1, 5)}
    assert pins() == {host(n): "1.1.0-1" for n in range(1, 5)}
    assert {host(n): [run.version for run in ledger(host(n))] for n in range(1, 5)} == {
        host(n): ["1.1.0-1"] for n in range(1, 5)
    }
    assert all(lb_admin(host(n)) == "up" for n in range(1, 5))


def test_each_host_goes_through_every_step_in_order(tasks):
    build_fleet(hosts=3, defaults={"batch_size": "2"})

    deployment = deploy(tasks, "1.1.0-1")

    assert host_path(deployment) == {host(n): FULL_PATH for n in range(1, 4)}
    for events in host_events(deployment).values():
        assert [e.verb for e in events] == [
            "host.drain",
            "host.converge",
            "host.verify",
            "host.enable",
            "host.finish",
        ]
        assert all(e.actor == "engine" for e in events)


def test_the_deployment_lifecycle_is_recorded(tasks):
    build_fleet(hosts=2)

    deployment = deploy(tasks, "1.1.0-1", actor="alice")

    assert [(e.verb, e.before, e.after) for e in deployment_events(deployment)] == [
        ("deployment.request", "", "pending"),
        ("deployment.accept", "pending", "queued"),
        ("deployment.start", "queued", "running"),
        ("deployment.succeed", "running", "succeeded"),
    ]
    assert deployment_events(deployment, "deployment.start")[0].data["plan"] == deployment.plan


def test_batches_run_one_after_another(tasks):
    build_fleet(hosts=4, defaults={"batch_size": "2"}, converge={"duration_s": 0.02})

    deployment = deploy(tasks, "1.1.0-1")

    batch = dict(
        HostDeployment.objects.filter(deployment=deployment).values_list("host__certname", "batch")
    )
    assert batch == {host(1): 0, host(2): 0, host(3): 1, host(4): 1}
    timeline = host_events(deployment)
    first_done = [e for n in (1, 2) for e in timeline[host(n)] if e.after == "done"]
    second_started = [e for n in (3, 4) for e in timeline[host(n)] if e.after == "draining"]
    assert max(e.pk for e in first_done) < min(e.pk for e in second_started)
    assert max(e.created_at for e in first_done) <= min(e.created_at for e in second_started)


def test_draining_waits_for_connections_to_close(tasks, monkeypatch):
    _fast_drain_polls(monkeypatch)
    build_fleet(
        hosts=1,
        lb_options={"connections": 3, "drain_seconds": 0.3},
        defaults={"drain_timeout_s": 10},
    )

    deployment = deploy(tasks, "1.1.0-1")

    assert deployment.status == states.SUCCEEDED
    events = {e.after: e for e in host_events(deployment)[host(1)]}
    waited = (events["converging"].created_at - events["draining"].created_at).total_seconds()
    assert 0.3 <= waited < 10


def test_draining_gives_up_waiting_at_the_drain_timeout(tasks, monkeypatch):
    _fast_drain_polls(monkeypatch)
    build_fleet(
        hosts=1,
        lb_options={"connections": 3, "drain_seconds": 600},
        defaults={"drain_timeout_s": 0.2},
    )

    deployment = deploy(tasks, "1.1.0-1")

    assert deployment.status == states.SUCCEEDED
    events = {e.after: e for e in host_events(deployment)[host(1)]}
    # How long the host drained, as the engine recorded it when it moved on.
    assert events["converging"].data["step"] == "draining"
    assert 0.2 <= events["converging"].data["seconds"] < 10


# --- failures ----------------------------------------------------------------------------------


def test_it_fails_when_the_failure_budget_is_exceeded_and_starts_no_more_batches(tasks):
    build_fleet(hosts=4, converge={"fail_hosts": [host(2)]})

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "1", "failure_budget": "0"})

    assert deployment.status == states.FAILED
    assert deployment.message == (
        f"failed: failure budget exceeded (1 done, 1 failed, 2 pending); failed but healthy, back in service: {host(2)}"
    )
    assert hosts_by_status(deployment) == {
        host(1): "done",
        host(2): "failed",
        host(3): "pending",
        host(4): "pending",
    }
    assert host_path(deployment)[host(3)] == [] and host_path(deployment)[host(4)] == []
    assert ledger(host(3)) == [] and ledger(host(4)) == []
    assert "simulated permanent failure" in host_deployment(deployment, host(2)).error
    assert pins() == {host(1): "1.1.0-1", host(2): "1.1.0-1"}  # moved just before its converge
    # Drained for its converge, which failed; its health check passes: back in service.
    assert lb_admin(host(2)) == "up"
    assert [e.verb for e in host_events(deployment)[host(2)]][-2:] == ["host.fail", "host.reenabled"]


def test_failures_within_the_budget_still_succeed_naming_the_failed_host(tasks):
    build_fleet(hosts=4, converge={"fail_hosts": [host(2)]}, health_options={"unhealthy_hosts": [host(2)]})

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "1", "failure_budget": "25%"})

    assert deployment.status == states.SUCCEEDED
    assert deployment.message == (
        f"succeeded (3 done, 1 failed); left out of service: {host(2)} (health check failed: {host(2)}: "
        "simulated health check fails)"
    )
    assert hosts_by_status(deployment)[host(2)] == "failed"
    [failure] = [e for e in host_events(deployment)[host(2)] if e.verb == "host.fail"]
    assert failure.data["host"] == host(2)
    assert (
        failure.data["error"]
        == "converging: simulated permanent failure (host listed in fail_hosts)"
    )
    assert lb_admin(host(2)) == "drain"  # unhealthy: never put back in service, and reported
    [left_out] = [e for e in host_events(deployment)[host(2)] if e.verb == "host.left_out"]
    assert left_out.data["reason"].startswith("health check failed")


def test_a_transient_failure_is_retried_until_it_succeeds(tasks):
    build_fleet(hosts=2, defaults={"batch_size": "2"}, converge={"transient_rate": 1.0})
    deployment = request("1.1.0-1")
    # Every host's first converge fails; then the fleet recovers.
    tasks.run_until(lambda: all(ledger(host(n)) for n in (1, 2)))
    assert [run.ok for n in (1, 2) for run in ledger(host(n))] == [False, False]
    set_converge_options()
    tasks.run_until(
        lambda: HostDeployment.objects.filter(deployment=deployment, attempt__gt=1).count() == 2
    )

    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    for n in (1, 2):
        runs = ledger(host(n))
        assert len(runs) >= 2
        assert [run.ok for run in runs] == [False] * (len(runs) - 1) + [True]
        assert [run.request_id.rsplit("-a", 1)[1] for run in runs] == [
            str(i) for i in range(1, len(runs) + 1)
        ]
        assert host_path(deployment)[host(n)] == FULL_PATH
        [converged] = [e for e in host_events(deployment)[host(n)] if e.verb == "host.verify"]
        assert (converged.data["step"], converged.data["attempts"]) == ("converging", len(runs))


def test_a_host_whose_transient_failures_outlast_its_attempts_fails(tasks):
    build_fleet(hosts=1, converge={"transient_rate": 1.0})

    deployment = deploy(tasks, "1.1.0-1", strategy={"max_attempts": 3})

    assert deployment.status == states.FAILED
    assert [run.ok for run in ledger(host(1))] == [False, False, False]
    assert (
        host_deployment(deployment, host(1)).error
        == "converging: simulated transient failure after 3 attempt(s)"
    )


def test_a_permanent_failure_fails_the_host_without_retrying(tasks):
    build_fleet(hosts=1, converge={"permanent_rate": 1.0})

    deployment = deploy(tasks, "1.1.0-1", strategy={"max_attempts": 5})

    assert deployment.status == states.FAILED
    assert len(ledger(host(1))) == 1
    hd = host_deployment(deployment, host(1))
    assert (hd.status, hd.attempt) == ("failed", 1)
    assert hd.error == "converging: simulated permanent failure"


def test_a_host_failing_its_health_check_fails_and_is_never_put_back_in_service(tasks):
    build_fleet(hosts=2, health_options={"unhealthy_hosts": [host(1)]})

    deployment = deploy(tasks, "1.1.0-1", strategy={"failure_budget": "1", "max_attempts": 2})

    assert deployment.status == states.SUCCEEDED
    assert host_path(deployment)[host(1)] == [
        "pending",
        "draining",
        "converging",
        "verifying",
        "failed",
    ]
    assert host_deployment(deployment, host(1)).error == (
        f"verifying: {host(1)}: simulated health check fails after 2 attempt(s)"
    )
    assert lb_admin(host(1)) == "drain"
    assert lb_admin(host(2)) == "up"


def test_a_host_the_load_balancer_refuses_fails_at_draining(tasks):
    build_fleet(hosts=2, lb_options={"fail_members": [host(1)]})

    deployment = deploy(tasks, "1.1.0-1", strategy={"failure_budget": "0"})

    assert deployment.status == states.FAILED
    assert host_path(deployment)[host(1)] == ["pending", "draining", "failed"]
    error = host_deployment(deployment, host(1)).error
    assert error.startswith("draining: ") and f"refuses member {host(1)}" in error
    assert ledger(host(1)) == [] and pins() == {}


def test_an_unreachable_host_is_skipped_when_the_budget_allows(tasks):
    build_fleet(hosts=4)
    Host.objects.filter(certname=host(2)).update(healthy=False)

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "2", "failure_budget": "1"})

    assert deployment.status == states.SUCCEEDED
    assert hosts_by_status(deployment) == {
        host(1): "done",
        host(2): "skipped",
        host(3): "done",
        host(4): "done",
    }
    assert host_deployment(deployment, host(2)).error == "host unreachable when its turn came"
    assert ledger(host(2)) == [] and host(2) not in pins()


def test_it_moves_on_promptly_after_a_batch_whose_hosts_were_all_unreachable(tasks, settings):
    settings.ORBITER_STALE_SECONDS = 15  # the sweeper's safety net, as in production
    build_fleet(hosts=3)
    Host.objects.filter(certname=host(2)).update(healthy=False)

    deployment = deploy(
        tasks, "1.1.0-1", strategy={"batch_size": "1", "failure_budget": "1"}, timeout=3
    )

    assert deployment.status == states.SUCCEEDED


def test_it_starts_no_host_once_an_unreachable_host_has_used_up_the_budget(tasks):
    build_fleet(hosts=4)
    Host.objects.filter(certname=host(1)).update(healthy=False)

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "2", "failure_budget": "0"})

    assert deployment.status == states.FAILED
    assert hosts_by_status(deployment) == {
        host(1): "failed",
        host(2): "pending",
        host(3): "pending",
        host(4): "pending",
    }
    assert ledger(host(2)) == []


# --- pauses ------------------------------------------------------------------------------------


def test_a_paused_deployment_finishes_its_hosts_in_flight_and_starts_no_new_batch(tasks):
    build_fleet(hosts=3, converge={"duration_s": 0.05})
    deployment = request("1.1.0-1", strategy={"batch_size": "1"})
    tasks.run_until(_in_status(deployment, "converging"))

    services.deployment_pause(deployment_id=deployment.pk, actor="alice")
    tasks.run_until(
        lambda: (
            not HostDeployment.objects.filter(
                deployment=deployment, status__in=states.IN_FLIGHT
            ).exists()
        )
    )
    engine.advance(deployment.pk)
    run_for(tasks, 0.3)

    paused = reload(deployment)
    assert paused.status == states.PAUSED
    assert paused.message.startswith("paused by alice")
    assert hosts_by_status(deployment) == {host(1): "done", host(2): "pending", host(3): "pending"}
    [pause] = deployment_events(deployment, "deployment.pause")
    assert (pause.actor, pause.before, pause.after) == ("alice", "running", "paused")

    services.deployment_resume(deployment_id=deployment.pk, actor="bob")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    assert set(hosts_by_status(deployment).values()) == {"done"}
    assert [e.actor for e in deployment_events(deployment, "deployment.resume")] == ["bob"]


def test_a_canary_with_canary_pause_waits_after_the_first_host(tasks):
    build_fleet(hosts=5)
    deployment = request(
        "1.1.0-1", strategy={"batch_size": "2", "canary": True, "canary_pause": True}
    )

    paused = run_until_status(tasks, deployment, states.PAUSED)

    assert paused.message == "canary host done; resume to start batch 2 of 3"
    assert hosts_by_status(deployment) == {
        host(1): "done",
        **{host(n): "pending" for n in range(2, 6)},
    }
    assert [len(batch) for batch in paused.plan] == [1, 2, 2]
    assert deployment_events(deployment, "deployment.pause")[0].actor == "engine"

    services.deployment_resume(deployment_id=deployment.pk, actor="alice")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    assert len(deployment_events(deployment, "deployment.pause")) == 1


def test_a_canary_without_canary_pause_runs_straight_through(tasks):
    build_fleet(hosts=3)

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "2", "canary": True})

    assert deployment.status == states.SUCCEEDED
    assert deployment_events(deployment, "deployment.pause") == []


def test_pause_between_batches_until_resumed_waits_after_each_batch(tasks):
    build_fleet(hosts=3)
    deployment = request(
        "1.1.0-1", strategy={"batch_size": "1", "pause_between_batches": "until-resumed"}
    )

    assert (
        run_until_status(tasks, deployment, states.PAUSED).message
        == "batch 1 done; resume to start batch 2 of 3"
    )
    assert hosts_by_status(deployment) == {host(1): "done", host(2): "pending", host(3): "pending"}
    services.deployment_resume(deployment_id=deployment.pk, actor="alice")
    tasks.run_until(
        lambda: (
            hosts_by_status(deployment)[host(2)] == "done" and status(deployment) == states.PAUSED
        )
    )

    assert reload(deployment).message == "batch 2 done; resume to start batch 3 of 3"
    assert hosts_by_status(deployment)[host(3)] == "pending"
    services.deployment_resume(deployment_id=deployment.pk, actor="alice")

    assert run_to_end(tasks, deployment).status == states.SUCCEEDED
    assert len(deployment_events(deployment, "deployment.pause")) == 2


def test_a_timed_pause_between_batches_delays_the_next_batch(tasks):
    build_fleet(hosts=2)

    deployment = deploy(
        tasks, "1.1.0-1", strategy={"batch_size": "1", "pause_between_batches": "1"}
    )

    assert deployment.status == states.SUCCEEDED
    timeline = host_events(deployment)
    first_done = next(e for e in timeline[host(1)] if e.after == "done")
    second_drained = next(e for e in timeline[host(2)] if e.after == "draining")
    assert (second_drained.created_at - first_done.created_at).total_seconds() >= 1
    assert deployment_events(deployment, "deployment.pause") == []


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_lets_hosts_in_flight_finish_and_skips_the_rest(tasks):
    build_fleet(hosts=4, converge={"duration_s": 0.05})
    deployment = request("1.1.0-1", strategy={"batch_size": "2"})
    tasks.run_until(
        lambda: (
            HostDeployment.objects.filter(deployment=deployment, status="converging").count() == 2
        )
    )

    services.deployment_cancel(deployment_id=deployment.pk, actor="carol")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.CANCELLED
    assert deployment.message == "cancelled (2 done, 2 skipped)"
    assert hosts_by_status(deployment) == {
        host(1): "done",
        host(2): "done",
        host(3): "skipped",
        host(4): "skipped",
    }
    assert [lb_admin(host(n)) for n in (1, 2)] == ["up", "up"]
    assert pins() == {host(1): "1.1.0-1", host(2): "1.1.0-1"}
    assert host_path(deployment)[host(3)] == ["pending", "skipped"]
    assert (
        host_deployment(deployment, host(3)).error == "deployment cancelled before this host's turn"
    )
    [asked] = deployment_events(deployment, "deployment.cancel_requested")
    assert asked.actor == "carol"


def test_cancel_before_the_start_cancels_at_once(tasks):
    build_fleet(hosts=2, requires_approval=True)
    deployment = request("1.1.0-1")

    services.deployment_cancel(deployment_id=deployment.pk, actor="alice")

    assert status(deployment) == states.CANCELLED
    assert not HostDeployment.objects.filter(deployment=deployment).exists()


def test_a_host_cancelled_while_draining_goes_back_in_service_without_counting_as_deployed(
    tasks, monkeypatch
):
    _fast_drain_polls(monkeypatch)
    build_fleet(
        hosts=2,
        lb_options={"connections": 3, "drain_seconds": 600},
        defaults={"drain_timeout_s": 30},
    )
    deployment = request("1.1.0-1")
    tasks.run_until(lambda: lb_admin(host(1)) == "drain")

    services.deployment_cancel(deployment_id=deployment.pk, actor="carol")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.CANCELLED
    assert lb_admin(host(1)) == "up"
    assert pins() == {}
    assert hosts_by_status(deployment) == {host(1): "skipped", host(2): "skipped"}
    assert "done" not in deployment.message


def test_cancelling_a_paused_deployment_skips_the_hosts_left(tasks):
    build_fleet(hosts=3)
    deployment = request(
        "1.1.0-1", strategy={"batch_size": "1", "pause_between_batches": "until-resumed"}
    )
    run_until_status(tasks, deployment, states.PAUSED)

    services.deployment_cancel(deployment_id=deployment.pk, actor="carol")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.CANCELLED
    assert hosts_by_status(deployment) == {host(1): "done", host(2): "skipped", host(3): "skipped"}
    assert [(e.before, e.after) for e in deployment_events(deployment, "deployment.cancel")] == [
        ("paused", "cancelled")
    ]


def test_a_finished_deployment_cannot_be_cancelled(tasks):
    build_fleet(hosts=1)
    deployment = deploy(tasks, "1.1.0-1")

    with pytest.raises(OrbiterError) as refused:
        services.deployment_cancel(deployment_id=deployment.pk, actor="alice")

    assert "cannot cancel a deployment that is succeeded" in refused.value.message


# --- retry and rollback ------------------------------------------------------------------------


def test_retrying_the_failed_hosts_after_fixing_the_cause_succeeds(tasks):
    build_fleet(hosts=4, converge={"fail_hosts": [host(2)]})
    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "1", "failure_budget": "0"})
    assert deployment.status == states.FAILED

    set_converge_options()
    services.deployment_retry(deployment_id=deployment.pk, actor="alice")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    assert set(hosts_by_status(deployment).values()) == {"done"}
    assert pins() == {host(n): "1.1.0-1" for n in range(1, 5)}
    assert [run.ok for run in ledger(host(2))] == [False, True]
    assert host_deployment(deployment, host(2)).round == 2
    [retry] = deployment_events(deployment, "deployment.retry")
    assert (retry.actor, retry.before, retry.after) == ("alice", "failed", "running")


def test_a_retried_deployment_no_longer_shows_a_finish_time_while_it_runs_again(tasks):
    build_fleet(hosts=2, converge={"fail_hosts": [host(2)]})
    deployment = deploy(tasks, "1.1.0-1")
    assert deployment.status == states.FAILED and deployment.finished_at is not None

    services.deployment_retry(deployment_id=deployment.pk, actor="alice")

    retried = reload(deployment)
    assert retried.status == states.RUNNING
    assert retried.finished_at is None


def test_retry_refuses_when_there_is_nothing_to_retry(tasks):
    build_fleet(hosts=1)
    deployment = deploy(tasks, "1.1.0-1")

    with pytest.raises(OrbiterError) as refused:
        services.deployment_retry(deployment_id=deployment.pk, actor="alice")

    assert "succeeded" in refused.value.message


def _failed_upgrade(tasks, **strategy) -> Deployment:
    """1.0.0-1 everywhere, then 1.1.0-1 fails on the third host of four."""
    build_fleet(hosts=4)
    assert deploy(tasks, "1.0.0-1").status == states.SUCCEEDED
    set_converge_options(fail_hosts=[host(3)])
    return request("1.1.0-1", strategy={"batch_size": "1", "failure_budget": "0", **strategy})


def test_rollback_moves_the_pins_back_and_converges_the_hosts(tasks):
    parent = run_to_end(tasks, _failed_upgrade(tasks))
    assert parent.status == states.FAILED
    assert pins() == {
        host(1): "1.1.0-1",
        host(2): "1.1.0-1",
        host(3): "1.1.0-1",
        host(4): "1.0.0-1",
    }
    set_converge_options()

    child = services.deployment_rollback(deployment_id=parent.pk, actor="alice", reason="bad build")
    child = run_to_end(tasks, child)
    parent = run_until_status(tasks, parent, states.ROLLED_BACK)

    assert child.status == states.SUCCEEDED
    assert child.is_rollback and child.rollback_of_id == parent.pk
    assert child.artifact.label == "1.0.0-1"
    assert sorted(hosts_by_status(child)) == [host(1), host(2), host(3)]
    assert pins() == {host(n): "1.0.0-1" for n in range(1, 5)}
    assert all(lb_admin(host(n)) == "up" for n in range(1, 5))
    assert parent.message == f"rolled back by #{child.pk}"
    assert [
        (e.before, e.after) for e in deployment_events(parent) if e.verb.endswith("rollback")
    ] == [
        ("failed", "rolling_back"),
        ("rolling_back", "rolled_back"),
    ]


def test_auto_rollback_rolls_back_a_deployment_over_its_budget(tasks):
    parent = _failed_upgrade(tasks, auto_rollback=True)
    run_until_status(tasks, parent, states.ROLLING_BACK)
    set_converge_options()

    parent = run_until_status(tasks, parent, states.ROLLED_BACK)

    [child] = Deployment.objects.filter(rollback_of=parent)
    assert child.status == states.SUCCEEDED and child.is_rollback
    assert child.requested_by_name == "engine"
    assert "failure budget exceeded" in child.comment
    assert pins() == {host(n): "1.0.0-1" for n in range(1, 5)}


def test_auto_rollback_without_anything_to_roll_back_fails_saying_why(tasks):
    build_fleet(hosts=2, converge={"fail_hosts": [host(1)]})

    deployment = deploy(tasks, "1.1.0-1", strategy={"auto_rollback": True})

    assert deployment.status == states.FAILED
    assert "automatic rollback impossible" in deployment.message
    assert "nothing to roll back" in deployment.message


# --- timeouts ----------------------------------------------------------------------------------


def test_an_unanswered_converge_is_resent_once_under_the_same_id_then_counts_as_a_failed_attempt(
    tasks, monkeypatch
):
    sent: list[str] = []
    queue_apply = tasks.apply_async

    def recording_apply(task, args=None, kwargs=None, **options):
        if task.name == "orbiter.converge.simulated":
            sent.extend(r["request_id"] for r in args[0])
        queue_apply(task, args, kwargs, **options)

    monkeypatch.setattr(tasks, "apply_async", recording_apply)
    build_fleet(hosts=1, converge={"duration_s": 0.6})
    deployment = request("1.1.0-1", strategy={"converge_timeout_s": 0.2, "max_attempts": 2})

    tasks.run_until(
        lambda: HostDeployment.objects.filter(deployment=deployment, resent=True).exists()
    )
    first = host_deployment(deployment, host(1))
    assert (first.attempt, first.status) == (1, "converging")
    assert sent == [first.request_id, first.request_id]

    tasks.run_until(lambda: host_deployment(deployment, host(1)).attempt == 2)
    assert host_deployment(deployment, host(1)).error == "attempt 1: converging timed out"

    deployment = run_to_end(tasks, deployment)
    assert deployment.status == states.FAILED
    second = host_deployment(deployment, host(1)).request_id
    assert second != first.request_id and second.endswith("-a2")
    assert sent == [first.request_id] * 2 + [second] * 2
    assert (
        host_deployment(deployment, host(1)).error
        == "converging: converging timed out after 2 attempt(s)"
    )

    # The late answers change nothing, and the fleet ran each request once.
    tasks.run_until(lambda: len(ledger(host(1))) == 2)
    run_for(tasks, 0.3)
    assert [run.request_id for run in ledger(host(1))] == [first.request_id, second]
    assert hosts_by_status(deployment) == {host(1): "failed"}


# --- approval ----------------------------------------------------------------------------------


def test_a_protected_environment_waits_for_someone_else_to_approve(tasks):
    build_fleet(hosts=2, requires_approval=True)
    deployment = request("1.1.0-1", actor="alice")
    assert deployment.status == states.AWAITING_APPROVAL
    assert deployment.message == "waiting for approval"

    with pytest.raises(OrbiterError) as refused:
        services.deployment_approve(deployment_id=deployment.pk, actor="alice")
    assert (
        refused.value.message
        == f"alice requested deployment #{deployment.pk} and cannot approve it; ask someone else"
    )
    run_for(tasks, 0.1)
    assert status(deployment) == states.AWAITING_APPROVAL
    assert not HostDeployment.objects.filter(deployment=deployment).exists()

    services.deployment_approve(deployment_id=deployment.pk, actor="bob")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    [approval] = deployment_events(deployment, "deployment.approve")
    assert (approval.actor, approval.before, approval.after) == (
        "bob",
        "awaiting_approval",
        "queued",
    )
    assert pins() == {host(1): "1.1.0-1", host(2): "1.1.0-1"}


def test_a_rejected_deployment_never_runs(tasks):
    build_fleet(hosts=2, requires_approval=True)
    deployment = request("1.1.0-1", actor="alice")

    services.deployment_reject(
        deployment_id=deployment.pk, actor="bob", reason="not during the sale"
    )
    run_for(tasks, 0.1)

    deployment = reload(deployment)
    assert deployment.status == states.REJECTED
    assert deployment.message == "rejected by bob: not during the sale"
    assert deployment.finished_at is not None
    assert not HostDeployment.objects.filter(deployment=deployment).exists()
    assert pins() == {}


def test_a_host_the_load_balancer_never_sees_healthy_again_fails_and_is_named(tasks):
    from orbiter.loadbalancers.models import Pool

    build_fleet(hosts=2)
    Pool.objects.update(options={"unhealthy_members": [host(2)]})

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "2", "enable_timeout_s": 0.3})

    assert deployment.status == states.FAILED
    failed = host_deployment(deployment, host(2))
    assert failed.status == "failed"
    assert "never reported healthy by the load balancer" in failed.error
    assert host_deployment(deployment, host(1)).status == "done"
