"""Zero downtime, on real components: HAProxy in front of four backend processes on
loopback, a real Celery worker (on this test's PostgreSQL and Redis) running the engine with
the haproxy driver, the http health check and the command converge driver restarting each
backend at the new version, while client threads send requests through HAProxy the whole
time. The scenario is lab/zero_downtime.py's, which also runs alone (standalone runtime)."""

import shutil
import tempfile
from pathlib import Path

import pytest

from lab.processes import start_scheduler, start_worker
from lab.zero_downtime import NEW, run_scenario
from tests.loadbalancers.test_haproxy import require_haproxy

pytestmark = pytest.mark.integration


@pytest.fixture
def lab():
    path = Path(tempfile.mkdtemp(prefix="orbiter-zdt-"))  # short: HAProxy's socket path has 107 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_rollout_under_traffic_loses_no_request(live_env, lab, tmp_path):
    require_haproxy()
    scheduler = start_scheduler(live_env, tmp_path)
    worker = start_worker(live_env, tmp_path, concurrency=2)
    try:
        outcome = run_scenario(lab, backends=4, min_requests=2000, timeout=150)
    finally:
        worker.stop()
        scheduler.stop()
    figures = outcome.figures
    print(figures)

    assert figures["deployment_status"] == "succeeded", (figures["deployment_message"], worker.tail())
    assert figures["hosts"] == {f"127.0.0.{n}": "done" for n in (11, 12, 13, 14)}
    assert figures["requests"] >= 2000
    assert figures["failed_requests"] == 0, figures["failures"]
    # Every answer came from a backend HAProxy had in service and healthy at the time...
    assert figures["out_of_service_responses"] == 0, figures["out_of_service_examples"]
    # ...which means something: backends were seen out of service, one at a time (max_unavailable 1).
    assert figures["samples_with_a_backend_out"] > 0
    assert figures["most_backends_out_at_once"] == 1
    # Both versions served traffic, and every backend ends at the new one.
    assert figures["responses_by_version"][NEW] > 0 and figures["responses_by_version"]["1.0.0-1"] > 0
    assert figures["all_at_new_version"] is True
    assert figures["backends_at_new_version"] == 4
