"""Continuous-delivery flow on the real stack: from an RPM published to a yum repository to
the artifact passing the last stage of its pipeline.

    python bench/flow.py                      # 3 stages x 3 hosts, batches of 1, converge 1 s, poll 5 s
    python bench/flow.py --batch 3 --poll-interval 10

Starts PostgreSQL and Redis on free loopback ports, a Celery worker and beat (`orbiter
worker`, `orbiter scheduler`), builds an RPM with rpmbuild, indexes it with createrepo_c
in a repository served over HTTP on 127.0.0.1 and watched by the yum watcher, and measures
two announcements of a new build:

- `poll`: the watcher finds it (its poll interval and the scheduler's tick included);
- `webhook`: CI announces it right after publishing (what POST /api/v1/artifacts does:
  `artifact_register`), so the watcher's interval drops out.

Each stage deploys to 3 hosts with simulated converge (`--converge` seconds per batch, no
worker waiting), the simulated load balancer and health check, then runs one instant gate
(`true`). The last line is JSON: total_s, converge_s (batches x converge: the irreducible
part), gates_s (the gates' own run time), overhead_s (= total - converge - gates) and the
per-phase breakdown, for the poll announcement at the top level and both under "modes".
"""

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.processes import start_scheduler, start_worker  # noqa: E402
from lab.services import running  # noqa: E402

STAGES = ("cert", "test", "production")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=3, help="hosts per stage (default 3)")
    parser.add_argument("--batch", type=int, default=1, help="hosts per batch (default 1)")
    parser.add_argument("--converge", type=float, default=1.0, help="seconds a simulated converge takes (default 1)")
    parser.add_argument("--poll-interval", type=int, default=5, help="the repository's poll interval, s (default 5)")
    parser.add_argument("--tick", type=float, default=2.0, help="the scheduler's repository tick, s (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes (default 4)")
    args = parser.parse_args()

    from tests.sources.support import RepoServer, Repository, RpmFactory

    with running("postgres", "redis") as services, tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        env = {
            **services,
            "ORBITER_MODE": "server",
            "ORBITER_SECRET_KEY": "bench-only-secret",
            "ORBITER_LOG_LEVEL": os.environ.get("ORBITER_LOG_LEVEL", "WARNING"),
            "ORBITER_REPO_TICK_SECONDS": str(args.tick),
            "DJANGO_SETTINGS_MODULE": "orbiter.settings",
            "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the virtualenv's editable install says
        }
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        repo = Repository(scratch / "repo", RpmFactory(scratch / "rpmbuild"))
        repo.add("bench", "1.0.0")
        repo.index()
        with RepoServer(repo.root) as server:
            build(args, server.url)
            scheduler = start_scheduler(env, scratch)
            worker = start_worker(env, scratch, concurrency=args.concurrency)
            try:
                wait(lambda: _run_of("1.0.0") is None and _artifact("1.0.0"), 60, "the watcher's first poll")
                modes = {
                    "poll": flow(args, repo, "1.1.0", announce=False),
                    "webhook": flow(args, repo, "1.2.0", announce=True),
                }
            finally:
                worker.stop()
                scheduler.stop()
    result = {**{k: v for k, v in modes["poll"].items() if k != "phases"}, "phases": modes["poll"]["phases"],
              "modes": modes,
              "setup": {"stages": len(STAGES), "hosts_per_stage": args.hosts, "batch": args.batch,
                        "converge_s_per_batch": args.converge, "poll_interval_s": args.poll_interval,
                        "tick_s": args.tick, "worker_concurrency": args.concurrency,
                        "stack": "celery prefork on redis, postgresql 15, createrepo_c repo over http, "
                                 "simulated converge/lb/health, gate: command `true`"}}
    print(json.dumps(result))


def build(args, repo_url: str) -> None:
    """bench: 3 hosts in each of cert, test, production; a pipeline with one instant gate per
    stage; the repository watched every --poll-interval seconds. 1.0.0-1 is found before
    continuous delivery is on, so it is already there and stays put."""
    from orbiter.catalog import services as catalog
    from orbiter.loadbalancers.models import Pool, PoolMember
    from orbiter.pipelines.services import pipeline_apply
    from orbiter.sources.services import repository_create

    app = catalog.application_create(
        name="bench", package="bench", actor="bench",
        rollout_defaults={"batch_size": str(args.batch)},
        converge_driver="simulated", converge_options={"duration_s": args.converge},
        health_driver="simulated",
    )
    for order, name in enumerate(STAGES):
        env = catalog.environment_create(name=name, order=order, actor="bench")
        pool = Pool.objects.create(name=f"bench-{name}", application=app, environment=env, driver="simulated")
        for i in range(1, args.hosts + 1):
            host = catalog.host_create(certname=f"bench-{name}-{i:02d}.example.test", environment=env,
                                       applications=[app], actor="bench")
            PoolMember.objects.create(pool=pool, host=host, member=host.certname)
    repository_create(name="bench", base_url=repo_url, actor="bench", applications=["bench"],
                      poll_interval_s=args.poll_interval)
    pipeline_apply(spec={"application": "bench", "continuous_delivery": False, "stages": [
        {"environment": name, "gates": [{"name": "instant", "kind": "command", "command": ["true"]}]}
        for name in STAGES]}, actor="bench")


def flow(args, repo, version: str, *, announce: bool) -> dict:
    from orbiter.catalog import services as catalog
    from orbiter.catalog.models import Application
    from orbiter.pipelines import states
    from orbiter.pipelines.models import GateRun, Pipeline, StageRun
    from orbiter.pipelines.selectors import why_not_promoting

    pipeline = Pipeline.objects.get(application__name="bench")
    if not pipeline.continuous_delivery:
        from orbiter.pipelines.selectors import pipeline_describe
        from orbiter.pipelines.services import pipeline_apply

        pipeline_apply(spec={**pipeline_describe(pipeline.application), "continuous_delivery": True}, actor="bench")
    repo.add("bench", version)
    repo.index(update=True)
    published = datetime.now(UTC)
    if announce:
        catalog.artifact_register(application=Application.objects.get(name="bench"),
                                  nevra=f"bench-{version}-1.noarch", actor="ci")
    run = wait(lambda: (r := _run_of(version)) and r.status in states.RUN_FINAL | {states.FAILED, states.PAUSED} and r,
               300, f"{version} to pass the pipeline")
    if run.status != states.SUCCEEDED:
        raise SystemExit(f"{version}: {why_not_promoting(run.artifact)['sentence']}")

    def s(a, b) -> float:
        return round((b - a).total_seconds(), 3)

    artifact = run.artifact
    phases = {"detect_s": s(published, artifact.found_at)}
    stage_runs = list(StageRun.objects.filter(run=run).select_related("deployment", "environment").order_by("position"))
    phases["to_first_deployment_s"] = s(artifact.found_at, stage_runs[0].deploy_requested_at)
    converge = gates = 0.0
    previous_end = None
    for sr in stage_runs:
        d = sr.deployment
        gate_runs = list(GateRun.objects.filter(stage_run=sr))
        first_gate = min(g.started_at for g in gate_runs)
        last_gate = max(g.finished_at for g in gate_runs)
        batches = len(d.plan)
        converge += batches * args.converge
        gates += (last_gate - first_gate).total_seconds()
        phases[sr.environment.name] = {
            "promote_s": s(previous_end, sr.deploy_requested_at) if previous_end else None,
            "deployment_start_s": s(sr.deploy_requested_at, d.started_at),
            "rollout_s": s(d.started_at, d.finished_at),
            "rollout_converge_s": batches * args.converge,
            "to_gates_s": s(d.finished_at, first_gate),
            "gates_s": s(first_gate, last_gate),
            "to_passed_s": s(last_gate, sr.finished_at),
        }
        previous_end = sr.finished_at
    total = (run.finished_at - published).total_seconds()
    return {
        "announcement": "webhook" if announce else f"poll every {args.poll_interval}s",
        "total_s": round(total, 3),
        "converge_s": round(converge, 3),
        "gates_s": round(gates, 3),
        "overhead_s": round(total - converge - gates, 3),
        "phases": phases,
    }


def _artifact(version: str):
    from orbiter.catalog.models import Artifact

    return Artifact.objects.filter(application__name="bench", version=version).first()


def _run_of(version: str):
    from orbiter.pipelines.models import PipelineRun

    return PipelineRun.objects.filter(artifact__application__name="bench", artifact__version=version).select_related(
        "artifact").first()


def wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


if __name__ == "__main__":
    main()
