"""Rollout overhead on the real stack: Celery workers on Redis, PostgreSQL, the engine,
simulated converge (the request goes out, the result comes back `--converge` seconds
later, no worker thread waits), instant simulated load balancer and health check.

    python bench/rollout.py --hosts 100 --batch 10 --converge 1
    python bench/rollout.py --hosts 1000 --batch 100 --converge 1

Starts PostgreSQL and Redis on free loopback ports, a Celery worker and beat, runs one
rollout, stops everything. The last line is JSON: hosts, batch, wall_s, ideal_s
(= ceil(hosts / batch) x converge), overhead_ratio (= wall_s / ideal_s) and details,
among them `cpu_s`: CPU seconds used during the rollout by this benchmark's own processes
(this script, the worker and beat, PostgreSQL, Redis) and by everything else on the
machine (`other_processes`: other people's work, which makes the figures unreliable).
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.processes import start_scheduler, start_worker  # noqa: E402
from lab.services import running  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--converge", type=float, default=1.0, help="seconds a simulated converge takes")
    parser.add_argument("--timeline", action="store_true", help="print when each batch reached each step")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes or threads (default 2)")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"], help="Celery pool")
    parser.add_argument("--cold", action="store_true",
                        help="request the deployment from a process that has never talked to the broker")
    args = parser.parse_args()

    with running("postgres", "redis") as services, tempfile.TemporaryDirectory() as logs:
        env = {
            **services,
            "ORBITER_MODE": "server",
            "ORBITER_SECRET_KEY": "bench-only-secret",
            "ORBITER_LOG_LEVEL": os.environ.get("ORBITER_LOG_LEVEL", "WARNING"),
            "DJANGO_SETTINGS_MODULE": "orbiter.settings",
        }
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        build(args.hosts, args.converge)
        scheduler = start_scheduler(env, Path(logs))
        worker = start_worker(env, Path(logs), concurrency=args.concurrency, pool=args.pool)
        try:
            ours = _OwnProcesses(services)
            result = rollout(args, ours)
        finally:
            worker.stop()
            if os.environ.get("KEEP_LOG"):  # debugging: the worker log's last KEEP_LOG characters
                print(Path(logs, "worker.log").read_text()[-int(os.environ["KEEP_LOG"]):])
            scheduler.stop()
    print(json.dumps(result))


def build(hosts: int, converge: float) -> None:
    from orbiter.catalog import services as catalog
    from orbiter.catalog.models import Host
    from orbiter.loadbalancers.models import Pool, PoolMember

    app = catalog.application_create(
        name="bench", package="bench", actor="bench",
        converge_driver="simulated", converge_options={"duration_s": converge},
        health_driver="simulated",
    )
    env = catalog.environment_create(name="bench", order=0, actor="bench")
    pool = Pool.objects.create(name="bench", application=app, environment=env, driver="simulated")
    created = Host.objects.bulk_create(
        Host(certname=f"bench-{i:05d}.example.test", environment=env) for i in range(hosts)
    )
    app.hosts.add(*created)
    PoolMember.objects.bulk_create(PoolMember(pool=pool, host=h, member=h.certname) for h in created)
    catalog.artifact_register(application=app, nevra="bench-1.0.0-1.noarch", actor="bench")


def rollout(args, ours: "_OwnProcesses") -> dict:
    from orbiter.deployments import services, states
    from orbiter.deployments.models import Deployment

    if not args.cold:
        # Like a web process that has served requests before: this process's first message to
        # the broker costs 50-300 ms (imports, connection, queue declaration) that a long-running
        # requester never pays. It sends what beat sends every few seconds; give the worker a
        # moment to run that sweep.
        from orbiter.deployments.tasks import sweep_task

        sweep_task.delay()
        time.sleep(1.0)
    cpu_before = ours.sample()
    requested = time.monotonic()
    deployment = services.deployment_create(
        application="bench", environment="bench", version="1.0.0-1", actor="bench",
        strategy={"batch_size": str(args.batch), "converge_timeout_s": 60 + args.converge * 2},
    )
    while True:
        if Deployment.objects.filter(pk=deployment.pk, status__in=states.COMPLETED).exists():
            deployment.refresh_from_db()
            break
        if time.monotonic() - requested > 600:
            raise SystemExit(f"rollout not finished after 600 s: {Deployment.objects.get(pk=deployment.pk).message}")
        time.sleep(0.2)  # wall time comes from the deployment's own timestamps
    observed = time.monotonic() - requested
    cpu = ours.used_since(cpu_before)
    if deployment.status != states.SUCCEEDED:
        raise SystemExit(f"rollout {deployment.status}: {deployment.message}")
    wall = (deployment.finished_at - deployment.created_at).total_seconds()
    batches = math.ceil(args.hosts / args.batch)
    ideal = batches * args.converge
    if args.timeline:
        timeline(deployment)
    return {
        "hosts": args.hosts,
        "batch": args.batch,
        "batches": batches,
        "converge_s": args.converge,
        "concurrency": args.concurrency,
        "pool": args.pool,
        "requester": "cold" if args.cold else "warm",
        "wall_s": round(wall, 3),
        "ideal_s": ideal,
        "overhead_ratio": round(wall / ideal, 4),
        "overhead_per_batch_ms": round((wall - ideal) / batches * 1000, 1),
        "start_s": round((deployment.started_at - deployment.created_at).total_seconds(), 3),
        "observed_wall_s": round(observed, 3),
        "status": deployment.status,
        "cpu_s": cpu,
        "stack": f"celery {args.pool} on redis, postgresql 15, simulated converge/lb/health",
    }


class _OwnProcesses:
    """CPU time of this benchmark's processes (this one and its descendants: worker, beat,
    Redis; and the PostgreSQL server, which pg_ctl detaches) against the whole machine's."""

    def __init__(self, services: dict):
        self.pg_port = urlsplit(services["ORBITER_DATABASE_URL"]).port

    def sample(self) -> tuple[float, dict[int, tuple[str, float]]]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        return busy, self._own()

    def used_since(self, before: tuple[float, dict[int, tuple[str, float]]]) -> dict:
        busy_then, own_then = before
        busy_now, own_now = self.sample()
        parts: dict[str, float] = {}
        for pid, (kind, cpu) in own_now.items():
            parts[kind] = parts.get(kind, 0.0) + cpu - own_then.get(pid, (kind, 0.0))[1]
        own = sum(parts.values())
        machine = busy_now - busy_then
        return {"benchmark": round(own, 2), "other_processes": round(max(0.0, machine - own), 2),
                "machine": round(machine, 2), "cores": os.cpu_count(),
                "benchmark_by_process": {k: round(v, 2) for k, v in sorted(parts.items())}}

    def _own(self) -> dict[int, tuple[str, float]]:
        procs: dict[int, tuple[int, float, bool, str]] = {}
        tick = os.sysconf("SC_CLK_TCK")
        marker = f"-p {self.pg_port} ".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ")
            except OSError:
                continue  # ended meanwhile
            root = int(entry) == os.getpid() or (b"postgres" in cmdline and marker in cmdline)
            procs[int(entry)] = (int(stat[1]), (int(stat[11]) + int(stat[12])) / tick, root, _kind(cmdline))
        own: dict[int, tuple[str, float]] = {}
        for pid, (ppid, cpu, _, kind) in procs.items():
            if kind == "worker" and ppid in procs and procs[ppid][3] == "worker":
                kind = "worker pool"
            seen, p = set(), pid
            while p in procs and p not in seen:
                seen.add(p)
                if procs[p][2]:
                    own[pid] = (kind, cpu)
                    break
                p = procs[p][0]
        return own


def _kind(cmdline: bytes) -> str:
    for word in ("postgres", "redis", "scheduler", "worker"):
        if word.encode() in cmdline:
            return word
    return "this script"


def timeline(deployment) -> None:
    """Per batch: seconds from the request to the first and last host event of each step."""
    from orbiter.audit.models import Event
    from orbiter.converge.models import SimulatedConvergeRun
    from orbiter.deployments.models import HostDeployment

    batch_of = dict(HostDeployment.objects.filter(deployment=deployment).values_list("pk", "batch"))
    t0 = deployment.created_at
    rows: dict = {}
    for e in Event.objects.filter(deployment_id=deployment.pk, object_type="hostdeployment"):
        key = (batch_of[int(e.object_id)], e.after)
        rows.setdefault(key, []).append((e.created_at - t0).total_seconds())
    for run in SimulatedConvergeRun.objects.all():
        hd = int(run.request_id.split("-")[1][1:])
        rows.setdefault((batch_of[hd], "ledger"), []).append((run.performed_at - t0).total_seconds())
    for batch in sorted({b for b, _ in rows}):
        steps = ["draining", "converging", "ledger", "verifying", "enabling", "done"]
        print(f"batch {batch:3d}: " + "  ".join(
            f"{s[:5]} {min(rows[(batch, s)]):7.3f}-{max(rows[(batch, s)]):7.3f}" for s in steps if (batch, s) in rows))


if __name__ == "__main__":
    main()
