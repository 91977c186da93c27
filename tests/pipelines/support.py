"""Helpers the pipeline tests share: a three-environment fleet, pipeline definitions, gate
scripts, and reading what a user would see (run status, the explanation, pins)."""

import sys
import textwrap
import time
from pathlib import Path

from orbiter.catalog import services as catalog
from orbiter.catalog.models import Application, Artifact, Pin
from orbiter.pipelines import selectors, services
from orbiter.pipelines.models import GateRun, PipelineRun, StageRun
from tests.conftest import build_fleet

APP = "shop-api"
ENVIRONMENTS = ("cert", "test", "production")


def fleet(*, hosts: int = 2, production_requires_approval: bool = False) -> Application:
    """shop-api on `hosts` simulated hosts in each of cert, test and production, 1.0.0-1 known."""
    for env in ENVIRONMENTS:
        app, _ = build_fleet(hosts=hosts, environment=env, versions=("1.0.0-1",),
                             requires_approval=production_requires_approval and env == "production")
    return app


def define(*, stages: list[dict] | None = None, policy: str = "supersede", cd: bool = True, actor: str = "admin"):
    return services.pipeline_apply(spec={
        "application": APP, "continuous_delivery": cd, "policy": policy,
        "stages": stages if stages is not None else [{"environment": env} for env in ENVIRONMENTS],
    }, actor=actor)


def publish(version: str) -> Artifact:
    """A new build announced, as the repository watcher or the CI webhook would."""
    return catalog.artifact_register(application=Application.objects.get(name=APP),
                                     nevra=f"{APP}-{version}.noarch", actor="watcher")


def artifact(version: str) -> Artifact:
    return Artifact.objects.get(application__name=APP, version=version.split("-")[0],
                                release=version.split("-")[1])


def run_of(version: str) -> PipelineRun | None:
    return PipelineRun.objects.filter(artifact=artifact(version)).first()


def status(version: str) -> str | None:
    run = run_of(version)
    return run.status if run else None


def why(version: str) -> dict:
    return selectors.why_not_promoting(artifact(version))


def wait_for(flow, version: str, wanted, *, timeout: float = 60.0) -> PipelineRun:
    wanted = {wanted} if isinstance(wanted, str) else set(wanted)
    flow.run_until(lambda: status(version) in wanted, timeout=timeout)
    return run_of(version)


def run_for(flow, seconds: float) -> None:
    """Keep tasks and sweepers running a while: only to show that nothing happens."""
    end = time.monotonic() + seconds
    flow.run_until(lambda: time.monotonic() >= end, timeout=seconds + 10)


def versions_pinned(environment: str) -> set[str]:
    return {p.artifact.label for p in Pin.objects.filter(host__environment__name=environment)
            .select_related("artifact")}


def stage_statuses(version: str) -> dict[str, str]:
    return dict(StageRun.objects.filter(run__artifact=artifact(version)).values_list("environment__name", "status"))


def gate(version: str, name: str) -> GateRun:
    return GateRun.objects.get(stage_run__run__artifact=artifact(version), name=name)


def script(tmp_path: Path, name: str, body: str) -> list[str]:
    """A Python test script the command gate runs: the argument list to give it."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]
