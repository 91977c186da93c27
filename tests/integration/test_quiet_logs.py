"""The worker and the scheduler log through one format (JSON lines with a timestamp, the
default in server mode), and an idle control plane stays quiet: the periodic sweeps that
find nothing to do write nothing, while real work still shows."""

import json
import time

import pytest

from lab.processes import start_scheduler, start_worker
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment
from tests.conftest import build_fleet

pytestmark = pytest.mark.integration


def json_lines(process) -> list[dict]:
    return [json.loads(line) for line in process.log_path.read_text().splitlines() if line.startswith("{")]


def test_an_idle_worker_and_scheduler_write_nothing_and_a_rollout_is_logged_in_json(live_env, tmp_path):
    scheduler = start_scheduler(live_env, tmp_path)
    worker = start_worker(live_env, tmp_path)
    try:
        settled = len(worker.log_path.read_text().splitlines()), len(scheduler.log_path.read_text().splitlines())
        time.sleep(6)  # idle: six sweeps of each kind are due (ORBITER_SWEEP_SECONDS=1); none may be logged
        idle = (worker.log_path.read_text().splitlines()[settled[0]:],
                scheduler.log_path.read_text().splitlines()[settled[1]:])

        build_fleet(hosts=1)
        deployment = services.deployment_create(application="shop-api", environment="cert", version="1.1.0-1",
                                                actor="alice")
        deadline = time.monotonic() + 60
        while not Deployment.objects.filter(pk=deployment.pk, status__in=states.COMPLETED).exists():
            assert time.monotonic() < deadline, worker.tail()
            time.sleep(0.1)
    finally:
        worker.stop()
        scheduler.stop()

    assert idle == ([], []), idle
    lines = json_lines(worker) + json_lines(scheduler)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    messages = [line["message"] for line in lines]
    assert any("orbiter.deployments.advance" in m and "succeeded" in m for m in messages), messages
    assert any(m.startswith("beat: Starting") for m in messages)
