"""Zero-downtime rollout on real components: a real HAProxy in front of N real backend HTTP
servers on loopback (each its own process, serving its version), Orbiter's engine rolling a
new version through them with the `haproxy` load-balancer driver, the `http` health check
and the `command` converge driver (which really restarts each backend at the new version),
while client threads send requests through HAProxy for the whole rollout.

    python lab/zero_downtime.py [--backends 4] [--min-requests 2000] [--timeout 180]

Standalone: SQLite in a temporary directory and Orbiter's in-process runtime (Celery worker
with the in-memory broker, plus the sweeper). It starts everything it needs on 127.0.0.x and
stops it all, also on failure, Ctrl-C or SIGTERM. The last line printed is a JSON object:
requests, failed_requests, backends, all_at_new_version, out_of_service_responses, ... ;
the exit status is 0 when the rollout succeeded with zero failed requests, every response
from a backend in service and healthy, and every backend at the new version.

`run_scenario()` is the scenario itself, for tests/integration/test_zero_downtime.py (which
runs the engine on a real Celery worker, PostgreSQL and Redis instead).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab import zero_downtime_backend as backend  # noqa: E402
from lab.services import HAProxy, free_port, haproxy_command, started  # noqa: E402

APPLICATION, ENVIRONMENT, HA_BACKEND = "shop-web", "cert", "shop_web"
OLD, NEW = "1.0.0-1", "1.1.0-1"
CLIENT_THREADS = 4
MONITOR_EVERY_S = 0.02
# srv_admin_state bits meaning "not in service": maintenance (forced, inherited, config,
# resolution, hostname) and drain (forced, inherited); see the haproxy driver.
NOT_IN_SERVICE_BITS = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40
SRV_RUNNING = 2  # srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping


@dataclass
class Response:
    started: float
    finished: float
    status: int | None  # None: no answer (connection error, timeout)
    backend: str = ""
    version: str = ""
    error: str = ""


# --- the lab: backends and HAProxy --------------------------------------------------------------


def lab_backends(lab: Path, count: int) -> dict[str, dict]:
    """certname -> {name, address, port}: one loopback address per backend (127.0.0.11, ...),
    all on one free port, so each backend's certname is also its address and the health check
    URL is simply http://{certname}:PORT/health."""
    for _ in range(20):
        port = free_port()
        specs = {f"127.0.0.{10 + i}": {"name": f"s{i}", "address": f"127.0.0.{10 + i}", "port": port}
                 for i in range(1, count + 1)}
        if all(_bindable(s["address"], port) for s in specs.values()):
            (lab / "backends.json").write_text(json.dumps(specs, indent=1))
            return specs
    raise RuntimeError("no port free on every backend address")


def _bindable(address: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def haproxy_config(specs: dict[str, dict], port: int) -> str:
    servers = "\n".join(f"    server {s['name']} {s['address']}:{s['port']} check" for s in specs.values())
    # No `retries`/`redispatch`: a request HAProxy sent to a restarting backend would fail
    # visibly instead of being retried elsewhere, so zero failures proves the drain.
    return f"""
backend {HA_BACKEND}
    balance roundrobin
    retries 0
    option httpchk GET /health
    http-check expect status 200
    default-server inter 300ms fastinter 100ms downinter 300ms fall 2 rise 2
{servers}

frontend web
    bind 127.0.0.1:{port}
    default_backend {HA_BACKEND}
"""


# --- traffic and observation ------------------------------------------------------------------------


class Client:
    """CLIENT_THREADS threads, each sending GET / through HAProxy back to back on a keep-alive
    connection (a new one after any error), recording every response."""

    def __init__(self, port: int):
        self.port, self.responses, self._stop = port, [], threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(CLIENT_THREADS)]

    def start(self) -> Client:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def count(self) -> int:
        return len(self.responses)

    def _loop(self) -> None:
        conn = None
        while not self._stop.is_set():
            conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            started = time.monotonic()
            try:
                conn.request("GET", "/")
                answer = conn.getresponse()
                answer.read()
                response = Response(started, time.monotonic(), answer.status, answer.getheader("X-Backend", ""),
                                    answer.getheader("X-Version", ""))
                if answer.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as error:
                response = Response(started, time.monotonic(), None, error=f"{type(error).__name__}: {error}")
                conn.close()
                conn = None
            with self._lock:
                self.responses.append(response)
        if conn:
            conn.close()


class Monitor:
    """Samples every server's state on HAProxy (`show servers state`) every MONITOR_EVERY_S:
    in service = no drain or maintenance bit, and running (its checks pass)."""

    def __init__(self, socket_path):
        self.socket_path, self.samples, self._stop = socket_path, [], threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Monitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                answer = haproxy_command(self.socket_path, f"show servers state {HA_BACKEND}", timeout=2)
                self.samples.append((time.monotonic(), _in_service(answer)))
            self._stop.wait(MONITOR_EVERY_S)

    def out_of_service_at(self, server: str, when: float) -> bool:
        """Out of service in the last sample before `when` and in the first one after it."""
        before = [s for t, s in self.samples if t <= when]
        after = [s for t, s in self.samples if t >= when]
        return bool(before and after) and not before[-1].get(server, True) and not after[0].get(server, True)


def _in_service(answer: str) -> dict[str, bool]:
    lines = answer.splitlines()
    if len(lines) < 2 or not lines[1].startswith("# "):
        return {}
    columns = lines[1][2:].split()
    name, op, admin = (columns.index(c) for c in ("srv_name", "srv_op_state", "srv_admin_state"))
    rows = [line.split() for line in lines[2:] if line.strip()]
    return {r[name]: int(r[op]) == SRV_RUNNING and not int(r[admin]) & NOT_IN_SERVICE_BITS for r in rows}


# --- Orbiter -----------------------------------------------------------------------------------------


def orbiter_fleet(lab: Path, specs: dict[str, dict], socket_path: Path):
    """The application, its hosts (pinned at OLD, as they run), its HAProxy pool and both builds."""
    from orbiter.catalog import services as catalog
    from orbiter.catalog.models import Environment, Pin
    from orbiter.loadbalancers.models import Pool, PoolMember

    port = next(iter(specs.values()))["port"]
    app = catalog.application_create(
        name=APPLICATION, package=APPLICATION, actor="lab",
        rollout_defaults={"batch_size": "1", "drain_timeout_s": 30, "converge_timeout_s": 60,
                          "verify_timeout_s": 30, "enable_timeout_s": 30, "retry_backoff_s": 1},
        converge_driver="command",
        converge_options={"command": [sys.executable, str(Path(backend.__file__).resolve()), "restart",
                                      "--dir", str(lab), "{certname}", "{version}"], "timeout_s": 30},
        health_driver="http",
        health_options={"url": f"http://{{certname}}:{port}/health", "expected_text": "ok {version}",
                        "timeout_s": 1, "retries": 3, "retry_delay_s": 0.2},
    )
    env = Environment.objects.filter(name=ENVIRONMENT).first() or catalog.environment_create(
        name=ENVIRONMENT, order=0, actor="lab")
    artifacts = {v: catalog.artifact_register(application=app, nevra=f"{APPLICATION}-{v}.noarch", actor="lab")
                 for v in (OLD, NEW)}
    pool = Pool.objects.create(name=f"{APPLICATION}-{ENVIRONMENT}", application=app, environment=env,
                               driver="haproxy", max_unavailable="1",
                               options={"socket": str(socket_path), "backend": HA_BACKEND,
                                        "servers": {c: s["name"] for c, s in specs.items()}})
    for certname in specs:
        host = catalog.host_create(certname=certname, environment=env, applications=[app], actor="lab")
        PoolMember.objects.create(pool=pool, host=host, member=certname)
        Pin.objects.create(host=host, application=app, artifact=artifacts[OLD])
    return app


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


@dataclass
class Outcome:
    figures: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        f = self.figures
        return (f.get("deployment_status") == "succeeded" and f.get("failed_requests") == 0
                and f.get("out_of_service_responses") == 0 and f.get("samples_with_a_backend_out", 0) > 0
                and f.get("all_at_new_version") is True
                and f.get("requests", 0) >= f.get("min_requests", 0))


def run_scenario(lab: Path, *, backends: int = 4, min_requests: int = 2000, timeout: float = 180) -> Outcome:
    """Start the backends and HAProxy, build the fleet in Orbiter's database, roll NEW out under
    client traffic, stop everything; the engine must be running (worker + sweeper) already."""
    from orbiter.deployments import services, states
    from orbiter.deployments.models import Deployment, HostDeployment

    deadline = time.monotonic() + timeout
    specs = lab_backends(lab, backends)
    frontend = free_port()
    outcome = Outcome({"backends": backends, "min_requests": min_requests})
    try:
        for certname in specs:
            backend.start(lab, certname, OLD)
        haproxy = HAProxy(lab, haproxy_config(specs, frontend), port=frontend)
        with started(haproxy):

            def every_server_up():
                seen = _in_service(haproxy_command(haproxy.socket, f"show servers state {HA_BACKEND}"))
                return len(seen) == backends and all(seen.values())

            _wait(every_server_up, 10, "HAProxy to see every backend up")
            orbiter_fleet(lab, specs, haproxy.socket)
            monitor = Monitor(haproxy.socket).start()
            client = Client(frontend).start()
            try:
                _wait(lambda: client.count() >= 200, 30, "traffic before the rollout")
                began = time.monotonic()
                deployment = services.deployment_create(application=APPLICATION, environment=ENVIRONMENT,
                                                        version=NEW, actor="lab", comment="zero-downtime lab")
                done = _wait(
                    lambda: Deployment.objects.filter(pk=deployment.pk, status__in=states.COMPLETED).first(),
                    max(1.0, deadline - time.monotonic() - 10), "the rollout to finish")
                rollout_s = time.monotonic() - began
                # Keep the traffic going after the rollout, until the requested number is reached.
                _wait(lambda: client.count() >= min_requests or time.monotonic() > deadline - 5,
                      max(1.0, deadline - time.monotonic()), f"{min_requests} requests")
            finally:
                client.stop()
                monitor.stop()
            hosts = dict(HostDeployment.objects.filter(deployment=deployment).values_list("host__certname",
                                                                                            "status"))
            outcome.figures.update(_figures(client, monitor, specs, done, hosts, rollout_s))
    finally:
        for certname in specs:
            backend.stop(lab, certname)
    return outcome


def _figures(client: Client, monitor: Monitor, specs: dict, deployment, hosts: dict, rollout_s: float) -> dict:
    responses = client.responses
    failed = [r for r in responses if r.status != 200]
    outside = [r for r in responses if r.status == 200 and monitor.out_of_service_at(r.backend, r.started)]
    during = [r for r in responses if r.status == 200]
    at_new = {certname: backend.answers(spec, NEW) for certname, spec in specs.items()}
    last_version = {}
    for r in during:
        last_version[r.backend] = r.version
    duration = (responses[-1].finished - responses[0].started) if responses else 0.0
    return {
        "requests": len(responses),
        "failed_requests": len(failed),
        "failures": [f"{r.status or r.error} at +{r.started - responses[0].started:.2f}s" for r in failed[:5]],
        "out_of_service_responses": len(outside),
        "out_of_service_examples": [f"{r.backend} {r.version} at +{r.started - responses[0].started:.2f}s"
                                    for r in outside[:5]],
        "responses_by_version": {v: sum(1 for r in during if r.version == v) for v in (OLD, NEW)},
        "all_at_new_version": all(at_new.values()) and set(last_version.values()) == {NEW},
        "backends_at_new_version": sum(at_new.values()),
        "deployment_status": deployment.status,
        "deployment_message": deployment.message,
        "hosts": hosts,
        "rollout_s": round(rollout_s, 2),
        "traffic_s": round(duration, 2),
        "requests_per_s": round(len(responses) / duration, 1) if duration else 0.0,
        "monitor_samples": len(monitor.samples),
        # Proof the monitor saw the drains (else "no response from an out-of-service backend"
        # would prove nothing), and that the pool's budget held.
        "samples_with_a_backend_out": sum(1 for _, seen in monitor.samples if not all(seen.values())),
        "most_backends_out_at_once": max((sum(not up for up in seen.values()) for _, seen in monitor.samples),
                                         default=0),
    }


# --- standalone ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="zero_downtime.py", description=__doc__.split("\n")[0])
    parser.add_argument("--backends", type=int, default=4, help="backend servers (at least 4; default 4)")
    parser.add_argument("--min-requests", type=int, default=2000, help="requests to send at least (default 2000)")
    parser.add_argument("--timeout", type=float, default=180, help="bound on the whole scenario, seconds")
    args = parser.parse_args(argv)
    if not 4 <= args.backends <= 50:
        parser.error("--backends: from 4 to 50")
    if not HAProxy.installed():
        print("haproxy is not installed; install: .venv/bin/python lab/services.py ensure-installed "
              "--services haproxy", file=sys.stderr)
        return 2
    # Short path: HAProxy's UNIX socket path must fit in 107 bytes.
    with tempfile.TemporaryDirectory(prefix="orbiter-zdt-") as tmp:
        lab = Path(tmp)
        os.environ.update({"ORBITER_MODE": "standalone", "ORBITER_DATA_DIR": str(lab / "orbiter"),
                           "DJANGO_SETTINGS_MODULE": "orbiter.settings", "ORBITER_SWEEP_SECONDS": "1"})
        os.environ.pop("ORBITER_DATABASE_URL", None)
        os.environ.pop("ORBITER_BROKER_URL", None)
        import django

        django.setup()
        from django.core.management import call_command

        from orbiter.core.runtime import InProcessWorker

        call_command("migrate", verbosity=0)
        worker = InProcessWorker().start()
        try:
            outcome = run_scenario(lab, backends=args.backends, min_requests=args.min_requests,
                                   timeout=args.timeout)
        except TimeoutError as error:
            outcome = Outcome({"error": str(error), "backends": args.backends})
        finally:
            worker.stop()
    print(json.dumps(outcome.figures, sort_keys=True))
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
