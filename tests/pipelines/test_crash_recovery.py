"""A worker that dies mid-gate loses nothing: when the gate's lease expires the sweeper runs
it again, and a Jenkins build already triggered is followed, not triggered twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.pipelines import gaterunner, states
from orbiter.pipelines.models import GateRun
from tests.pipelines.fake_jenkins import FakeJenkins, JobScript
from tests.pipelines.support import define, fleet, gate, publish, script, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_dies_before_recording(monkeypatch):
    """The first gate attempt runs to its end, then its worker dies before recording the result."""
    real = gaterunner._record
    died = []

    def record(gate_run, result):
        if not died:
            died.append(gate_run.pk)
            return None
        return real(gate_run, result)

    monkeypatch.setattr(gaterunner, "_record", record)
    return died


def _expire_leases():
    """The clock moves past the dead worker's lease."""
    GateRun.objects.filter(status=states.G_RUNNING).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_a_gate_whose_worker_died_is_run_again_by_the_sweeper(flow, tmp_path, worker_dies_before_recording):
    fleet()
    counter = tmp_path / "runs"
    check = script(tmp_path, "check", f"""
        import pathlib
        p = pathlib.Path({str(counter)!r})
        p.write_text(p.read_text() + "x" if p.exists() else "x")
    """)
    define(stages=[{"environment": "cert", "gates": [{"name": "check", "kind": "command", "command": check}]}])
    publish("1.1.0-1")
    flow.run_until(lambda: worker_dies_before_recording and gate("1.1.0-1", "check").status == states.G_RUNNING)
    assert gate("1.1.0-1", "check").status == states.G_RUNNING  # stuck: nobody will record it

    _expire_leases()
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    recovered = gate("1.1.0-1", "check")
    assert counter.read_text() == "xx"
    assert (recovered.status, recovered.attempts) == ("passed", 1)  # the lost attempt did not count


def test_a_jenkins_build_triggered_before_the_worker_died_is_followed_not_triggered_again(
        flow, monkeypatch, worker_dies_before_recording):
    jenkins = FakeJenkins()
    jenkins.jobs["selenium"] = JobScript()
    monkeypatch.setenv("JENKINS_TOKEN", jenkins.token)
    try:
        fleet()
        define(stages=[{"environment": "cert", "gates": [{
            "name": "selenium", "kind": "jenkins", "url": jenkins.url, "job": "selenium", "username": "ci",
            "token_env": "JENKINS_TOKEN", "poll_interval_s": 0.01}]}])
        publish("1.1.0-1")
        flow.run_until(lambda: worker_dies_before_recording
                       and gate("1.1.0-1", "selenium").status == states.G_RUNNING)
        assert gate("1.1.0-1", "selenium").state["build"] == 1

        _expire_leases()
        wait_for(flow, "1.1.0-1", states.SUCCEEDED)
        assert len(jenkins.builds) == 1
        assert gate("1.1.0-1", "selenium").link == f"{jenkins.url}job/selenium/1/"
    finally:
        jenkins.stop()


def test_a_gate_task_lost_with_the_broker_is_queued_again(flow, monkeypatch):
    fleet()
    define(stages=[{"environment": "cert", "gates": [{"name": "check", "kind": "command", "command": ["true"]}]}])
    from orbiter.pipelines import engine

    real = engine.publish
    lost = []

    def publish_losing_gates(task, *args, **kwargs):
        if task.name == "orbiter.pipelines.gate" and not lost:
            lost.append(args)
            return None
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "publish", publish_losing_gates)
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert lost and gate("1.1.0-1", "check").status == states.G_PASSED


def test_gate_attempts_go_to_their_own_queue_when_one_is_configured(flow, settings, monkeypatch):
    from orbiter.pipelines.tasks import gate_task

    settings.ORBITER_GATE_QUEUE = "gates"
    queues = []
    real = gate_task.apply_async

    def apply_async(args=None, kwargs=None, **options):
        queues.append(options.get("queue"))
        return real(args=args, kwargs=kwargs, **options)

    monkeypatch.setattr(gate_task, "apply_async", apply_async)
    fleet()
    define(stages=[{"environment": "cert", "gates": [{"name": "check", "kind": "command", "command": ["true"]}]}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert queues == ["gates"]


def test_a_new_build_whose_arrival_task_was_lost_still_enters_the_pipeline(flow, monkeypatch):
    from orbiter.pipelines import engine

    real = engine.publish
    lost = []

    def publish_losing_arrivals(task, *args, **kwargs):
        if task.name == "orbiter.pipelines.artifact_arrived" and not lost:
            lost.append(args)
            return None
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "publish", publish_losing_arrivals)
    fleet()
    define()
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert lost
