"""Converge results settle their batch where they arrive, and the rows the engine writes in
bulk (Events, pins, the simulated ledger) read back like any other."""

import pytest

from orbiter.audit.models import Event
from orbiter.converge import services as converge
from orbiter.converge.base import ConvergeResult
from orbiter.deployments import engine, services, states
from orbiter.deployments.models import Deployment, HostDeployment
from tests.conftest import build_fleet
from tests.deployments.support import (
    deploy,
    host,
    host_deployment,
    host_path,
    ledger,
    pins,
    request,
)

pytestmark = pytest.mark.django_db(transaction=True)

FULL_PATH = ["pending", "draining", "converging", "verifying", "enabling", "done"]


def _record_queued(tasks, monkeypatch) -> list[str]:
    queued: list[str] = []
    queue_apply = tasks.apply_async

    def recording_apply(task, args=None, kwargs=None, **options):
        queued.append(task.name)
        queue_apply(task, args, kwargs, **options)

    monkeypatch.setattr(tasks, "apply_async", recording_apply)
    return queued


def test_converge_results_move_the_rollout_on_in_the_task_that_brings_them(tasks, monkeypatch):
    queued = _record_queued(tasks, monkeypatch)
    build_fleet(hosts=4)

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "2"})

    assert deployment.status == states.SUCCEEDED
    assert all(path == FULL_PATH for path in host_path(deployment).values())
    first_results = queued.index("orbiter.converge.simulated")
    assert queued[first_results:].count("orbiter.converge.simulated") == 2  # one per batch
    assert "orbiter.deployments.advance" not in queued[first_results:]  # no hand-over to another task


def test_results_for_a_deployment_another_engine_holds_are_recorded_and_it_is_woken(tasks, monkeypatch):
    queued = _record_queued(tasks, monkeypatch)
    build_fleet(hosts=1)
    deployment = request("1.1.0-1")
    tasks.run_until(lambda: HostDeployment.objects.filter(deployment=deployment, status="converging").exists())
    hd = host_deployment(deployment, host(1))
    monkeypatch.setattr(engine, "advance", lambda deployment_id, answers=None: False)  # busy elsewhere
    Deployment.objects.filter(pk=deployment.pk).update(wake_pending=False)
    queued.clear()

    recorded = converge.converge_results_settle(
        [ConvergeResult(request_id=hd.request_id, ok=True, message="converged", log_tail="ran")]
    )

    assert recorded == 1
    hd = host_deployment(deployment, host(1))
    assert (hd.status, hd.outcome["ok"], hd.log_tail) == ("converging", True, "ran")
    assert queued == ["orbiter.deployments.advance"]
    # The same result again changes nothing.
    assert converge.converge_results_settle([ConvergeResult(request_id=hd.request_id, ok=False)]) == 0


def test_the_engine_writes_every_column_of_its_events_pins_and_ledger(tasks):
    build_fleet(hosts=2)

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "1"})

    events = list(Event.objects.filter(deployment_id=deployment.pk, object_type="hostdeployment"))
    assert [e.after for e in events if e.data["host"] == host(1)] == FULL_PATH[1:]
    assert all(e.actor == "engine" and e.source_ip is None and e.created_at for e in events)
    verified = next(e for e in events if e.verb == "host.verify")
    assert verified.data["step"] == "converging" and verified.data["attempts"] == 1
    assert events == sorted(events, key=lambda e: (e.created_at, e.pk))
    assert pins() == {host(1): "1.1.0-1", host(2): "1.1.0-1"}
    run = ledger(host(1))[0]
    assert (run.ok, run.version, run.message) == (True, "1.1.0-1", "converged")
    # The result the round took is written with the host's next steps: the summary and log stay.
    hd = host_deployment(deployment, host(1))
    assert hd.puppet == {"changed": 1, "failed": 0, "simulated": True}
    assert hd.log_tail == "simulated Puppet run: shop-api 1.1.0-1: converged"


def test_a_result_handed_to_the_round_for_another_attempt_or_host_is_ignored(tasks):
    build_fleet(hosts=1, converge={"duration_s": 60})
    deployment = request("1.1.0-1")
    tasks.run_until(lambda: HostDeployment.objects.filter(deployment=deployment, status="converging").exists())
    hd = host_deployment(deployment, host(1))
    stale = f"d{deployment.pk}-h{hd.pk}-r{hd.round}-a{hd.attempt + 1}"

    assert converge.converge_results_settle([
        ConvergeResult(request_id=stale, ok=True, message="converged"),
        ConvergeResult(request_id=hd.request_id, ok=True, message="converged", certname="another-host"),
    ]) == 0
    hd = host_deployment(deployment, host(1))
    assert (hd.status, hd.outcome) == ("converging", None)

    # The answer it waits for, after a stale one in the same batch, is taken.
    assert converge.converge_results_settle([
        ConvergeResult(request_id=stale, ok=False, permanent=True),
        ConvergeResult(request_id=hd.request_id, ok=True, message="converged", log_tail="ran"),
    ]) == 1
    hd = host_deployment(deployment, host(1))
    assert hd.status != "converging" and hd.log_tail == "ran"


def test_a_change_made_while_serving_a_request_records_the_clients_address(tasks):
    context = pytest.importorskip("orbiter.audit.context")
    build_fleet(hosts=1, converge={"duration_s": 5})
    deployment = request("1.1.0-1")
    tasks.run_until(lambda: Deployment.objects.get(pk=deployment.pk).status == states.RUNNING)

    with context.source_ip("203.0.113.7"):
        services.deployment_pause(deployment_id=deployment.pk, actor="alice")

    paused = Event.objects.get(deployment_id=deployment.pk, verb="deployment.pause")
    assert (paused.actor, paused.source_ip) == ("alice", "203.0.113.7")
    started = Event.objects.get(deployment_id=deployment.pk, verb="deployment.start")
    assert (started.actor, started.source_ip) == ("engine", None)
