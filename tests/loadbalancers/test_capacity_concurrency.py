"""Two engines launching batches of two deployments that share a pool, at the same moment,
on PostgreSQL: the pool's row lock makes the second count the first's hosts, so together
they never take more than `max_unavailable` out of service."""

import os
import threading

import pytest
from django.conf import settings
from django.db import connection

from orbiter.deployments.models import HostDeployment
from orbiter.loadbalancers import capacity
from tests.loadbalancers.capacity_support import launch, shared_pool

pytestmark = pytest.mark.integration


def require_postgres():
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
        pytest.fail("PostgreSQL is required (ORBITER_REQUIRE_SERVICES=1) but not configured")
    pytest.skip("needs PostgreSQL's row locks: run with ./lab/test")


def test_simultaneous_batches_of_two_deployments_never_exceed_the_budget(transactional_db, monkeypatch):
    require_postgres()
    pool, (cert, test) = shared_pool(per_environment=3, max_unavailable="2")
    counted = capacity._usage

    def slow_usage(*args, **kwargs):
        # Widen the window between counting and committing, so that without the pool lock
        # both callers would count the same free slots.
        usage = counted(*args, **kwargs)
        threading.Event().wait(0.3)
        return usage

    monkeypatch.setattr(capacity, "_usage", slow_usage)
    start = threading.Barrier(2)
    results: dict[str, tuple[list[str], list[str]]] = {}

    def caller(name, deployment, certnames):
        try:
            start.wait(5)
            results[name] = launch(deployment, certnames)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller, args=("cert", cert, ["shop-api-cert-01", "shop-api-cert-02"])),
               threading.Thread(target=caller, args=("test", test, ["shop-api-test-01", "shop-api-test-02"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    admitted = results["cert"][0] + results["test"][0]
    assert len(admitted) == 2, results
    assert HostDeployment.objects.filter(status="draining").count() == 2
    # Whoever came second was told why it waits.
    waiting = [r[1] for r in results.values() if len(r[0]) < 2]
    assert waiting == [["waiting for capacity in pool shop-api-shared (2 of 6 out of service, max 2)"]]
