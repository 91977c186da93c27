"""The real processes: `orbiter scheduler` (Celery beat) and `orbiter worker` on Redis and
PostgreSQL find a build published to a createrepo_c repository by themselves."""

import time

import pytest

from lab.processes import start_scheduler, start_worker
from orbiter.audit.models import Event
from orbiter.catalog.models import Artifact
from orbiter.sources.services import repository_create
from tests.integration.conftest import live_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_the_scheduler_and_a_worker_register_new_builds_on_their_own(live_env, tmp_path, repo, server, shop):  # noqa: F811
    repo.add("shop-api", "1.0.0")
    repo.index()
    repository_create(name="el9", base_url=server.url, actor="admin", poll_interval_s=5)
    env = {**live_env, "ORBITER_REPO_TICK_SECONDS": "1"}
    scheduler = start_scheduler(env, tmp_path)
    worker = start_worker(env, tmp_path, concurrency=1)
    try:
        wait_for(lambda: Artifact.objects.filter(version="1.0.0").exists(), 60, "the first build")
        repo.add("shop-api", "1.1.0")
        repo.index(update=True)
        published = time.monotonic()
        wait_for(lambda: Artifact.objects.filter(version="1.1.0").exists(), 30, "the published build")
        detected_after = time.monotonic() - published
    finally:
        worker.stop()
        scheduler.stop()

    assert detected_after < 20, worker.tail()  # poll interval 5 s + tick 1 s, with room for a busy machine
    assert sorted(Event.objects.filter(verb="artifact.register", actor="yum:el9").values_list(
        "data__nevra", flat=True)) == ["shop-api-1.0.0-1.noarch", "shop-api-1.1.0-1.noarch"]
    conditional = [h for h in server.requests_for("repomd.xml") if "If-None-Match" in h]
    assert conditional, "polls after the first must be conditional"
