"""Two deployments sharing a pool with `max_unavailable` 1, run by a real Celery worker
(two processes, racing for the pool's budget) on PostgreSQL and Redis: never more than one
member out of service at any moment, both succeed, and the one waiting says so."""

import time

import pytest

from lab.processes import start_scheduler, start_worker
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.loadbalancers.models import Pool, PoolMember, SimulatedMemberState
from tests.conftest import build_fleet

pytestmark = pytest.mark.integration


def test_two_concurrent_deployments_stay_within_a_shared_pools_budget(live_env, tmp_path):
    build_fleet(hosts=3, environment="cert", converge={"duration_s": 0.3}, defaults={"batch_size": "2"})
    build_fleet(hosts=3, environment="test", versions=())
    pool = Pool.objects.get(name="shop-api-cert")
    PoolMember.objects.filter(pool__name="shop-api-test").update(pool=pool)
    Pool.objects.filter(name="shop-api-test").delete()
    Pool.objects.filter(pk=pool.pk).update(max_unavailable="1")

    scheduler = start_scheduler(live_env, tmp_path)
    worker = start_worker(live_env, tmp_path, concurrency=2)
    try:
        deployments = [
            services.deployment_create(application="shop-api", environment=env, version="1.1.0-1", actor="alice",
                                       strategy={"batch_size": "2"})
            for env in ("cert", "test")
        ]
        ids = [d.pk for d in deployments]
        most_out, samples, messages = 0, 0, set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # One snapshot of what is out of service: the load balancer's view and the hosts in flight,
            # read by one SQL statement. Two queries would see two moments: a host still drained in
            # the first and its successor admitted in the second would count as two out at once.
            lb_out = SimulatedMemberState.objects.exclude(admin="up").values_list("member", flat=True)
            in_flight = (HostDeployment.objects.filter(deployment_id__in=ids, status__in=states.IN_FLIGHT)
                         .values_list("host__certname", flat=True))
            out = set(lb_out.union(in_flight))
            most_out, samples = max(most_out, len(out)), samples + 1
            rows = list(Deployment.objects.filter(pk__in=ids).values_list("status", "message"))
            messages.update(m for _, m in rows)
            if all(s in states.COMPLETED for s, _ in rows):
                break
            time.sleep(0.005)
    finally:
        worker.stop()
        scheduler.stop()

    finished = {d.environment.name: d for d in Deployment.objects.filter(pk__in=ids).select_related("environment")}
    assert {env: d.status for env, d in finished.items()} == {"cert": "succeeded", "test": "succeeded"}, (
        {env: d.message for env, d in finished.items()}, worker.tail())
    assert samples > 50
    assert most_out == 1
    assert any("waiting for capacity in pool shop-api-cert (1 of 6 out of service, max 1)" in m for m in messages)
    assert not SimulatedMemberState.objects.exclude(admin="up").exists()
    assert HostDeployment.objects.filter(deployment_id__in=ids, status="done").count() == 6
