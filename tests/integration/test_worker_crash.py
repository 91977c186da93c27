"""A worker SIGKILLed mid-rollout loses nothing: a new worker finishes the rollout, every
converge attempt ran exactly once, and the audit trail holds every transition in order."""


import pytest

from lab.processes import start_scheduler, start_worker
from orbiter.audit.models import Event
from orbiter.converge.models import SimulatedConvergeRun
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment
from tests.conftest import build_fleet
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

HOST_PATH = ["pending", "draining", "converging", "verifying", "enabling", "done"]


def test_a_rollout_survives_its_worker_being_killed(live_env, tmp_path):
    build_fleet(hosts=12, converge={"duration_s": 0.6, "transient_rate": 0.3, "seed": 3},
                defaults={"batch_size": "3", "converge_timeout_s": 4, "max_attempts": 5})
    scheduler = start_scheduler(live_env, tmp_path)
    first = start_worker(live_env, tmp_path, name="first")
    second = None
    try:
        deployment = services.deployment_create(application="shop-api", environment="cert", version="1.0.0-1",
                                                actor="alice")

        def mid_rollout():
            done = HostDeployment.objects.filter(deployment=deployment, status=states.DONE).count()
            converging = HostDeployment.objects.filter(deployment=deployment, status=states.CONVERGING).count()
            return done >= 3 and converging > 0

        try:
            wait_for(mid_rollout, 60, "the rollout to be mid-way with hosts converging")
        except AssertionError:
            states_now = list(HostDeployment.objects.filter(deployment=deployment).values_list("status", flat=True))
            raise AssertionError(f"{Deployment.objects.get(pk=deployment.pk).message} {states_now}\n{first.tail()}") from None
        first.kill()
        killed_at = HostDeployment.objects.filter(deployment=deployment, status=states.DONE).count()
        assert killed_at < 12, "the worker must die before the rollout ends"

        second = start_worker(live_env, tmp_path, name="second")
        finished = wait_for(
            lambda: Deployment.objects.filter(pk=deployment.pk, status__in=states.COMPLETED).first(),
            120, "the rollout to finish after the crash",
        )
    finally:
        for process in (first, second, scheduler):
            if process:
                process.stop()

    assert finished.status == states.SUCCEEDED, (finished.message, second.tail() if second else "")
    hosts = list(HostDeployment.objects.filter(deployment=deployment).select_related("host"))
    assert [hd.status for hd in hosts] == [states.DONE] * 12

    # Every converge attempt the engine made ran exactly once, and no attempt is missing.
    converged = {
        e.object_id: e.data["attempts"]
        for e in Event.objects.filter(deployment_id=deployment.pk, verb="host.verify")
    }
    for hd in hosts:
        ran = sorted(SimulatedConvergeRun.objects.filter(certname=hd.host.certname).values_list("request_id", flat=True))
        expected = sorted(f"d{deployment.pk}-h{hd.pk}-r1-a{n}" for n in range(1, converged[str(hd.pk)] + 1))
        assert ran == expected, hd.host.certname
        assert SimulatedConvergeRun.objects.filter(certname=hd.host.certname, ok=True).count() == 1
    assert any(n > 1 for n in converged.values()), "the scenario should include transient failures"

    # The audit trail: each host walked the whole path in order, the deployment too.
    events = list(Event.objects.filter(deployment_id=deployment.pk).order_by("id"))
    assert all(a.created_at <= b.created_at for a, b in zip(events, events[1:], strict=False))
    for hd in hosts:
        path = [e.before for e in events if e.object_id == str(hd.pk) and e.object_type == "hostdeployment"]
        assert path + ["done"] == HOST_PATH, (hd.host.certname, path)
    verbs = [e.verb for e in events if e.object_type == "deployment"]
    assert verbs == ["deployment.request", "deployment.accept", "deployment.start", "deployment.succeed"]
