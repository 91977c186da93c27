"""PostgreSQL restarted under the worker and the scheduler: neither exits, and both go on
working on the database afterwards (their liveness beats, written after the restarts)."""

import shutil
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from lab.processes import Process, start_scheduler, start_worker
from lab.services import Postgres

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres():
    lab = Path(tempfile.mkdtemp(prefix="orbiter-pg-restarts-"))  # PostgreSQL's user must reach it
    lab.chmod(0o755)
    postgres = Postgres(lab)
    postgres.start()
    yield postgres
    postgres.stop()
    shutil.rmtree(lab, ignore_errors=True)


def beats_after(url: str, since: float) -> set[str]:
    """The roles whose last beat was written after `since` (a time.time())."""
    with psycopg.connect(url, connect_timeout=5) as db:
        rows = db.execute("SELECT role FROM orbiter_core_liveness WHERE beat_at > to_timestamp(%s)", [since])
        return {role for (role,) in rows}


def test_the_worker_and_scheduler_survive_three_postgres_restarts_and_work_on(live_env, tmp_path, own_postgres):
    env = {**live_env, "ORBITER_DATABASE_URL": own_postgres.url}
    migrate = Process(["migrate", "-v0"], env, tmp_path / "migrate.log")
    assert migrate.popen.wait(120) == 0, migrate.tail()
    migrate.stop()
    scheduler = start_scheduler(env, tmp_path)
    worker = start_worker(env, tmp_path)
    try:
        for _ in range(3):
            own_postgres.restart(down_s=2)  # the outage itself
            back = time.time()
            deadline = time.monotonic() + 30
            while beats_after(own_postgres.url, back) != {"scheduler", "worker"}:
                for process in (worker, scheduler):
                    assert process.popen.poll() is None, f"{process.args[0]} exited:\n{process.tail(60)}"
                assert time.monotonic() < deadline, (worker.tail(), scheduler.tail())
                time.sleep(0.2)
    finally:
        worker.stop()
        scheduler.stop()
