"""Redis, the Celery broker, restarted under a rollout: no control-plane process dies, the
rollout finishes, and a wake-up Redis lost is recovered as soon as the worker reconnects,
not by the staleness sweep seconds later.

Each test runs its own Redis (the suite's is shared), restarted on the same port with
nothing saved: every queued and unacknowledged message is lost, as after a crash."""

import time

import pytest

from lab.processes import Process, start_scheduler, start_worker
from lab.services import Redis
from orbiter.audit.models import Event
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment
from tests.conftest import build_fleet
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_broker(tmp_path):
    redis = Redis(tmp_path / "own-redis")
    redis.start()
    yield redis
    redis.stop()


def restart(redis: Redis, down_s: float = 1.0) -> float:
    """Stop Redis, keep it down `down_s`, start it again; return when it answers again."""
    redis.stop()
    time.sleep(down_s)  # the outage itself, not a synchronisation
    redis.start()  # returns once Redis answers PING
    return time.monotonic()


def alive(*processes) -> bool:
    for process in processes:
        assert process.popen.poll() is None, f"{process.args[0]} exited:\n{process.tail(60)}"
    return True


def host_moves(deployment_id: int) -> int:
    return Event.objects.filter(deployment_id=deployment_id, object_type="hostdeployment").count()


def test_the_worker_and_scheduler_survive_six_redis_restarts_under_a_rollout(live_env, tmp_path, redis_broker):
    env = {**live_env, "ORBITER_BROKER_URL": redis_broker.url}
    # A converge the simulated fleet lost with Redis (its delayed task) is re-sent at its
    # 4 s deadline; real agents answer over ActiveMQ instead.
    build_fleet(hosts=24, converge={"duration_s": 0.3},
                defaults={"batch_size": "4", "converge_timeout_s": 4, "max_attempts": 5})
    scheduler = start_scheduler(env, tmp_path)
    worker = start_worker(env, tmp_path)
    try:
        deployment = services.deployment_create(application="shop-api", environment="cert", version="1.0.0-1",
                                                actor="alice")
        wait_for(lambda: host_moves(deployment.pk) > 0, 30, "the rollout to start")
        for _ in range(6):
            restart(redis_broker)
            moved = host_moves(deployment.pk)
            wait_for(lambda m=moved: alive(worker, scheduler) and host_moves(deployment.pk) > m, 30,
                     "the rollout to move on after the restart")
        finished = wait_for(
            lambda: Deployment.objects.filter(pk=deployment.pk, status__in=states.COMPLETED).first(),
            120, "the rollout to finish",
        )
        alive(worker, scheduler)
    finally:
        worker.stop()
        scheduler.stop()
    assert finished.status == states.SUCCEEDED, finished.message
    assert set(HostDeployment.objects.filter(deployment=deployment).values_list("status", flat=True)) == {states.DONE}


RECORD_WHEN_TOLD = """
import pathlib, time
from orbiter.converge.base import ConvergeResult
from orbiter.converge.services import converge_results_record
from orbiter.deployments.models import HostDeployment
print("ready", flush=True)
while not pathlib.Path({marker!r}).exists():
    time.sleep(0.02)
hosts = HostDeployment.objects.filter(deployment_id={deployment}, status="converging")
print("recorded", converge_results_record([ConvergeResult(request_id=hd.request_id, ok=True) for hd in hosts]),
      flush=True)
"""


def test_a_wake_up_lost_with_redis_is_recovered_as_soon_as_the_worker_reconnects(live_env, tmp_path,
                                                                                  redis_broker):
    """Converge results recorded while Redis is down (as `orbiter listen` records an agent's
    reply) cannot queue their wake-up. With the production staleness (15 s) the rollout
    used to wait for the staleness sweep, ~10 s; the worker's reconnection now advances
    every active deployment at once."""
    env = {**live_env, "ORBITER_BROKER_URL": redis_broker.url, "ORBITER_STALE_SECONDS": "15"}
    # The simulated fleet answers after 60 s: only the results recorded below move the hosts.
    build_fleet(hosts=4, converge={"duration_s": 60},
                defaults={"batch_size": "2", "converge_timeout_s": 120, "max_attempts": 3})
    scheduler = start_scheduler(env, tmp_path)
    worker = start_worker(env, tmp_path)
    marker = tmp_path / "record-now"
    try:
        deployment = services.deployment_create(application="shop-api", environment="cert", version="1.0.0-1",
                                                actor="alice")

        def first_batch_converging():
            pks = list(HostDeployment.objects.filter(deployment=deployment, status=states.CONVERGING)
                       .values_list("pk", flat=True))
            return pks if len(pks) == 2 else None

        first = wait_for(first_batch_converging, 30, "both hosts of the first batch converging")
        recorder = Process(["shell", "-c", RECORD_WHEN_TOLD.format(marker=str(marker), deployment=deployment.pk)],
                           env, tmp_path / "recorder.log")
        recorder.wait_for_log("ready", timeout=60)
        redis_broker.stop()
        marker.touch()
        recorder.popen.wait(60)
        recorder.stop()
        said = recorder.log_path.read_text()
        assert "recorded 2" in said, said
        assert "could not queue" in said, "the wake-up must have failed to queue:\n" + said
        redis_broker.start()
        back = time.monotonic()
        try:
            wait_for(lambda: alive(worker) and not HostDeployment.objects.filter(pk__in=first,
                                                                                 status=states.CONVERGING).exists(),
                     30, "the converged hosts to move on")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{worker.tail(40)}") from None
        gap = time.monotonic() - back
    finally:
        worker.stop()
        scheduler.stop()
    # The worker retries its connection 2 s after losing it, then the recovery sweep runs
    # at once; the staleness sweep would have taken ~10 s.
    print(f"moved on {gap:.2f} s after Redis came back")
    assert gap < 5.0, f"{gap:.1f} s"
