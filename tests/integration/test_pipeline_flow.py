"""Continuous delivery on the real processes: an RPM built with rpmbuild and published to a
createrepo_c repository on loopback is found by the watcher (`orbiter scheduler` + `orbiter
worker` on Redis and PostgreSQL), deployed to cert, checked by gates — a real test script, an
HTTP check of every deployed host, headless Chromium loading the cert page — and promoted
through test to production; a failing gate stops it and says why; an approval holds it.

The hosts are simulated (converge, load balancer); what they serve comes from a loopback
HTTP server that answers with the version Orbiter pinned on each host."""

import http.server
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from django.db import close_old_connections, connection

from lab.processes import ORBITER, ROOT, start_scheduler, start_worker
from orbiter.audit.models import Event
from orbiter.catalog.models import Artifact, Pin
from orbiter.deployments.models import Deployment
from orbiter.pipelines import services, states
from orbiter.pipelines.models import GateRun, PipelineRun
from orbiter.pipelines.selectors import why_not_promoting
from orbiter.sources.services import repository_create
from tests.conftest import build_fleet
from tests.sources.support import RepoServer, Repository, RpmFactory

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ENVIRONMENTS = ("cert", "test", "production")


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; {_where()}")


def _where() -> str:
    """Where each artifact stands, and the worker's last lines: what a timeout needs explained."""
    lines = [f"{a.label}: {why_not_promoting(a)['sentence']}" for a in Artifact.objects.all()]
    log = _WORKER_LOG[0] if _WORKER_LOG else None
    if log is not None and log.exists():
        lines.append("worker log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
    return "\n".join(lines) or "no artifact registered"


_WORKER_LOG: list[Path] = []


class Site:
    """What the deployed hosts serve, on 127.0.0.1:

    /hosts/<certname>/health  200 "ok shop-api <version pinned there>" (500 for a broken build)
    /<environment>/           an HTML page whose script writes the environment's version
    /<environment>/version    that version, as text
    """

    def __init__(self):
        self.broken: set[str] = set()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                try:
                    status, kind, body = site.answer(self.path)
                finally:
                    connection.close()  # this thread's database connection
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[int, str, str]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        if len(parts) == 3 and parts[0] == "hosts" and parts[2] == "health":
            pin = Pin.objects.filter(host__certname=parts[1]).select_related("artifact").first()
            version = pin.artifact.label if pin else "none"
            if version in self.broken:
                return 500, "text/plain", f"shop-api {version}: database migration 0042 missing"
            return 200, "text/plain", f"ok shop-api {version}"
        if parts and parts[0] in ENVIRONMENTS:
            versions = {p.artifact.label for p in Pin.objects.filter(host__environment__name=parts[0])
                        .select_related("artifact")}
            version = versions.pop() if len(versions) == 1 else "mixed"
            if parts[1:] == ["version"]:
                return 200, "text/plain", version
            if not parts[1:]:
                return 200, "text/html", (
                    "<!doctype html><html><body><h1>Shop</h1><div id=\"version\">loading</div>"
                    f"<script>document.getElementById('version').textContent = 'shop-api ' + {version!r};</script>"
                    "</body></html>")
        return 404, "text/plain", "not found"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


TEST_SCRIPT = """\
    import os, sys, time, urllib.request
    # A small acceptance test: the stage serves the version that was just deployed there.
    time.sleep(2)
    served = urllib.request.urlopen(os.environ["ORBITER_STAGE_URL"] + "version", timeout=10).read().decode()
    print(f"test_version_served: expected {os.environ['ORBITER_VERSION']}, got {served}")
    sys.exit(0 if served == os.environ["ORBITER_VERSION"] else 1)
"""


@pytest.fixture
def lab(live_env, tmp_path):
    """The fleet, a yum repository on loopback watched by the real scheduler and worker, the site."""
    if not (shutil.which("rpmbuild") and shutil.which("createrepo_c") and Path(CHROMIUM).exists()):
        pytest.fail("rpmbuild, createrepo_c and chromium are needed (lab/services.py ensure-installed)")
    for env in ENVIRONMENTS:
        build_fleet(hosts=2, environment=env, versions=())
    repo = Repository(tmp_path / "repo", RpmFactory(tmp_path / "rpmbuild"))
    repo.index()
    site = Site()
    # PYTHONPATH: the processes run this checkout's code even if the shared virtualenv's
    # editable install points at another copy.
    env = {**live_env, "ORBITER_REPO_TICK_SECONDS": "1", "ORBITER_PIPELINE_RETRY_SECONDS": "1",
           "PYTHONPATH": str(ROOT)}
    with RepoServer(repo.root) as server:
        repository_create(name="el9", base_url=server.url, actor="admin", applications=["shop-api"],
                          poll_interval_s=5)
        scheduler = start_scheduler(env, tmp_path)
        worker = start_worker(env, tmp_path, concurrency=3)
        _WORKER_LOG[:] = [worker.log_path]
        try:
            yield repo, site, env, tmp_path
        finally:
            worker.stop()
            scheduler.stop()
            site.stop()
            close_old_connections()


def _define(site: Site, tmp_path: Path, *, production_promotion: str = "automatic"):
    script = tmp_path / "test_version.py"
    script.write_text(textwrap.dedent(TEST_SCRIPT))
    health = {"name": "health", "kind": "http", "url": site.url + "hosts/{certname}/health",
              "body_regex": "^ok shop-api {version}$", "timeout_s": 30}
    services.pipeline_apply(spec={
        "application": "shop-api", "policy": "supersede",
        "stages": [
            {"environment": "cert", "url": site.url + "cert/", "gates": [
                {"name": "acceptance", "kind": "command", "command": [sys.executable, str(script)], "timeout_s": 60},
                health,
                {"name": "browser", "kind": "command", "timeout_s": 90, "command": [
                    CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'chromium'}",
                    "--dump-dom", "{stage_url}"],
                 "output_regex": '<div id="version">shop-api {version}</div>'},
            ]},
            {"environment": "test", "url": site.url + "test/", "gates": [health]},
            {"environment": "production", "url": site.url + "production/", "promotion": production_promotion,
             "gates": [health]},
        ],
    }, actor="admin")


def _publish(repo: Repository, version: str, release: str = "1") -> None:
    repo.add("shop-api", version, release)
    repo.index(update=True)


def _run(version: str) -> PipelineRun | None:
    return PipelineRun.objects.filter(artifact__version=version).select_related("artifact").first()


def _status(version: str) -> str | None:
    run = _run(version)
    return run.status if run else None


def _pinned(environment: str) -> set[str]:
    return {p.artifact.label for p in Pin.objects.filter(host__environment__name=environment).select_related("artifact")}


def test_a_published_rpm_reaches_production_through_gated_stages_with_no_human_step(lab):
    repo, site, env, tmp_path = lab
    _define(site, tmp_path)
    _publish(repo, "1.1.0")

    wait_for(lambda: _status("1.1.0") in (states.SUCCEEDED, states.FAILED, states.PAUSED), 180,
             "1.1.0-1 to go through the pipeline")
    run = _run("1.1.0")
    assert run.status == states.SUCCEEDED, why_not_promoting(run.artifact)
    assert {e: _pinned(e) for e in ENVIRONMENTS} == {e: {"1.1.0-1"} for e in ENVIRONMENTS}

    artifact = Artifact.objects.get(version="1.1.0")
    assert Event.objects.filter(verb="artifact.register", object_id=str(artifact.pk), actor="yum:el9").exists()
    deployments = Deployment.objects.filter(artifact=artifact).order_by("id")
    assert [(d.environment.name, d.requested_by_name, d.status) for d in deployments] == [
        (e, "pipeline", "succeeded") for e in ENVIRONMENTS]
    # No person did anything to it: every actor is the watcher, the pipeline or the engine.
    actors = set(Event.objects.filter(created_at__gte=artifact.found_at).values_list("actor", flat=True))
    assert actors <= {"yum:el9", "pipeline", "engine"}, actors

    cert = {g.name: g for g in GateRun.objects.filter(stage_run__run=run, stage_run__environment__name="cert")}
    assert {name: g.status for name, g in cert.items()} == {"acceptance": "passed", "health": "passed",
                                                            "browser": "passed"}
    assert "expected 1.1.0-1, got 1.1.0-1" in cert["acceptance"].output
    assert '<div id="version">shop-api 1.1.0-1</div>' in cert["browser"].output
    assert "/hosts/shop-api-cert-02/health → 200" in cert["health"].output
    # The stage's gates ran side by side: together they took less than one after the other.
    spans = [(g.started_at, g.finished_at) for g in cert.values()]
    together = max(f for _, f in spans) - min(s for s, _ in spans)
    assert together < sum((f - s for s, f in spans), start=together * 0), spans


def test_a_failing_gate_stops_promotion_and_the_explanation_names_it_with_its_output(lab):
    repo, site, env, tmp_path = lab
    site.broken.add("1.2.0-1")
    _define(site, tmp_path)
    _publish(repo, "1.2.0")

    wait_for(lambda: _status("1.2.0") in (states.FAILED, states.SUCCEEDED), 180, "1.2.0-1 to stop")
    answer = why_not_promoting(Artifact.objects.get(version="1.2.0"))
    assert answer["reason"] == "gate_failed"
    assert answer["sentence"].startswith("1.2.0-1 is stopped at cert: gate health failed (GET ")
    assert "status 500, expected 200" in answer["sentence"]
    health = next(g for g in answer["details"]["stage"]["gates"] if g["name"] == "health")
    assert "database migration 0042 missing" in health["output"]
    assert _pinned("cert") == {"1.2.0-1"} and _pinned("test") == set() and _pinned("production") == set()

    printed = subprocess.run([ORBITER, "pipeline", "why", "shop-api", "1.2.0-1"], env={**_os_env(), **env},
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[0] == answer["sentence"]
    assert "database migration 0042 missing" in printed.stdout


def test_with_approval_required_for_production_it_waits_says_so_and_continues_once_approved(lab):
    repo, site, env, tmp_path = lab
    _define(site, tmp_path, production_promotion="approval")
    _publish(repo, "1.1.0")

    wait_for(lambda: _status("1.1.0") == states.AWAITING_APPROVAL, 180, "1.1.0-1 to wait for approval")
    assert why_not_promoting(Artifact.objects.get(version="1.1.0"))["sentence"] == (
        "1.1.0-1 waits for a person to approve its promotion to production "
        "(orbiter pipeline approve shop-api 1.1.0-1 production)")
    time.sleep(1.5)  # a sweep or two: it still waits
    assert _status("1.1.0") == states.AWAITING_APPROVAL and _pinned("production") == set()

    approved = subprocess.run([ORBITER, "pipeline", "approve", "shop-api", "1.1.0-1", "production", "--as", "carol"],
                              env={**_os_env(), **env}, capture_output=True, text=True, timeout=60)
    assert approved.returncode == 0, approved.stderr
    wait_for(lambda: _status("1.1.0") in (states.SUCCEEDED, states.FAILED, states.PAUSED), 120, "the promotion")
    assert _status("1.1.0") == states.SUCCEEDED
    assert _pinned("production") == {"1.1.0-1"}
    assert Event.objects.filter(verb="pipeline.stage.approve", actor="carol").exists()


def _os_env() -> dict:
    return dict(os.environ)
