"""/healthz on the real web process (gunicorn): the database checked, the scheduler's, the
workers' and the listeners' liveness reported from their beats, 503 when the database
cannot be reached."""

import shutil
import tempfile
from pathlib import Path

import pytest
import requests

from lab.processes import Process, start_scheduler, start_worker
from lab.services import Postgres, free_port
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration


def start_web(env: dict, log_dir) -> tuple[Process, str]:
    port = free_port()
    web = Process(["web", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env, log_dir / "web.log")
    web.wait_for_log("Booting worker", timeout=60)
    return web, f"http://127.0.0.1:{port}/healthz"


def health(url: str) -> tuple[int, dict]:
    response = requests.get(url, timeout=10)
    return response.status_code, response.json()


def test_healthz_reports_the_scheduler_and_workers_live_and_a_stopped_scheduler_as_stale(live_env, tmp_path):
    env = {**live_env, "ORBITER_LIVENESS_STALE_SECONDS": "8"}
    web, url = start_web(env, tmp_path)
    scheduler = start_scheduler(env, tmp_path)
    worker = start_worker(env, tmp_path)
    try:
        code, body = wait_for(lambda: (lambda r: r if r[1]["status"] == "ok" else None)(health(url)), 30,
                              "the scheduler and a worker to beat")
        assert code == 200 and body["ok"] is True and body["database"]["ok"] is True
        assert body["scheduler"]["state"] == "ok" and body["scheduler"]["live"] == 1
        assert body["worker"]["state"] == "ok" and body["worker"]["last_beat_s"] < 8
        assert body["listener"] == {"state": "absent", "live": 0, "last_beat_s": None}

        scheduler.stop()
        code, body = wait_for(lambda: (lambda r: r if r[1]["scheduler"]["state"] == "stale" else None)(health(url)),
                              30, "the stopped scheduler to be reported stale")
        assert code == 200 and body["status"] == "degraded" and body["scheduler"]["last_beat_s"] >= 8
    finally:
        worker.stop()
        scheduler.stop()
        web.stop()


def test_healthz_answers_503_when_the_database_cannot_be_reached_and_logs_it(live_env, tmp_path):
    lab = Path(tempfile.mkdtemp(prefix="orbiter-healthz-"))  # PostgreSQL's user must reach it, unlike tmp_path
    lab.chmod(0o755)
    postgres = Postgres(lab)
    postgres.start()
    env = {**live_env, "ORBITER_DATABASE_URL": postgres.url}
    try:
        migrate = Process(["migrate", "-v0"], env, tmp_path / "migrate.log")
        assert migrate.popen.wait(120) == 0, migrate.tail()
        migrate.stop()
        web, url = start_web(env, tmp_path)
        try:
            code, body = health(url)
            assert code == 200 and body["database"]["ok"] is True

            postgres.stop()
            code, body = health(url)

            assert code == 503
            assert body == {"ok": False, "status": "down", "database": {"ok": False}}
            assert "healthz: the database cannot be reached" in web.log_path.read_text()
        finally:
            web.stop()
    finally:
        postgres.stop()
        shutil.rmtree(lab, ignore_errors=True)
