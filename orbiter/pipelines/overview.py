"""A pipeline as people look at it: its definition, the artifacts going through it stage by
stage with their gates (and output), and for each one not moving the sentence saying why.
The API (`GET /api/v1/applications/{name}/pipeline`) and the application page both read it,
so they always say the same thing."""

from orbiter.catalog.models import Application, Artifact
from orbiter.pipelines import selectors, states
from orbiter.pipelines.models import GateRun, Pipeline, PipelineRun, StageRun

# Reasons of `selectors.why_not_promoting` for an artifact on its way: nothing to explain.
MOVING = frozenset({"moving", "deploying", "gates_running", "not_started", "deployment_queued"})
OUTPUT_SHOWN = selectors.OUTPUT_SHOWN


def pipeline_overview(application: Application, *, limit: int = 10) -> dict | None:
    """None when the application has no pipeline. Otherwise {"application",
    "continuous_delivery", "policy", "stages": [...], "runs": [...], "waiting": [...]}: the
    newest `limit` runs, each with every stage run and its gate runs; `waiting` lists the
    newest builds that have no run (continuous delivery off, found before it was on)."""
    pipeline = Pipeline.objects.filter(application=application).first()
    if pipeline is None:
        return None
    stages = [
        {"environment": s.environment.name, "promotion": s.promotion, "url": s.url,
         "gates": [{"name": g.name, "kind": g.kind, "retries": g.retries, "timeout_s": g.timeout_s}
                   for g in s.gates.all()]}
        for s in pipeline.stages.select_related("environment").prefetch_related("gates").order_by("position")
    ]
    runs = list(PipelineRun.objects.filter(pipeline=pipeline).select_related("artifact", "superseded_by__artifact")
                .order_by("-id")[:limit])
    stage_runs: dict[int, list[StageRun]] = {}
    for stage_run in (StageRun.objects.filter(run__in=runs).select_related("environment", "deployment")
                      .order_by("run_id", "position")):
        stage_runs.setdefault(stage_run.run_id, []).append(stage_run)
    gate_runs: dict[int, list[GateRun]] = {}
    for gate_run in GateRun.objects.filter(stage_run__run__in=runs).order_by("stage_run_id", "name"):
        gate_runs.setdefault(gate_run.stage_run_id, []).append(gate_run)

    with_run = {run.artifact_id for run in PipelineRun.objects.filter(pipeline=pipeline)}
    newest = sorted(Artifact.objects.filter(application=application), key=lambda a: a.evr, reverse=True)[:5]
    return {
        "application": application.name,
        "continuous_delivery": pipeline.continuous_delivery,
        "policy": pipeline.policy,
        "stages": stages,
        "runs": [_run(run, stage_runs.get(run.pk, []), gate_runs) for run in runs],
        "waiting": [_explained(a) for a in newest if a.pk not in with_run],
    }


def _run(run: PipelineRun, stage_runs: list[StageRun], gate_runs: dict[int, list[GateRun]]) -> dict:
    why = selectors.why_not_promoting(run.artifact)
    return {
        "id": run.pk,
        "artifact_id": run.artifact_id,
        "version": run.artifact.label,
        "status": run.status,
        "message": run.message,
        "started_by": run.started_by,
        "superseded_by": run.superseded_by.artifact.label if run.superseded_by else None,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "moving": why["reason"] in MOVING,
        "why": why["sentence"],
        "reason": why["reason"],
        "stages": [_stage(s, gate_runs.get(s.pk, [])) for s in stage_runs],
    }


def _stage(stage_run: StageRun, gate_runs: list[GateRun]) -> dict:
    deployment = stage_run.deployment
    return {
        "environment": stage_run.environment.name,
        "status": stage_run.status,
        "message": stage_run.message,
        "deployment": stage_run.deployment_id,
        "deployment_status": deployment.status if deployment else None,
        "approved_by": stage_run.approved_by,
        "approved_at": stage_run.approved_at,
        "deployed_at": stage_run.deployed_at,
        "finished_at": stage_run.finished_at,
        "gates": [
            {"id": g.pk, "name": g.name, "kind": g.kind, "status": g.status, "attempts": g.attempts,
             "allowed_attempts": g.allowed_attempts, "outcome": g.outcome, "message": g.message,
             "output": g.output[-OUTPUT_SHOWN:], "link": g.link, "decided_by": g.decided_by,
             "started_at": g.started_at, "finished_at": g.finished_at,
             "decidable": g.status in (states.WAITING, states.G_PAUSED)}
            for g in gate_runs
        ],
    }


def _explained(artifact: Artifact) -> dict:
    why = selectors.why_not_promoting(artifact)
    return {"artifact_id": artifact.pk, "version": artifact.label, "why": why["sentence"], "reason": why["reason"],
            "moving": why["reason"] in MOVING}


def run_overview(run: PipelineRun | int) -> dict:
    """One run as `pipeline_overview` shows it (what the API answers after an action on it)."""
    run = PipelineRun.objects.select_related("artifact", "superseded_by__artifact").get(
        pk=run.pk if isinstance(run, PipelineRun) else run)
    stage_runs = list(StageRun.objects.filter(run=run).select_related("environment", "deployment").order_by("position"))
    gate_runs: dict[int, list[GateRun]] = {}
    for gate_run in GateRun.objects.filter(stage_run__run=run).order_by("stage_run_id", "name"):
        gate_runs.setdefault(gate_run.stage_run_id, []).append(gate_run)
    return _run(run, stage_runs, gate_runs)
