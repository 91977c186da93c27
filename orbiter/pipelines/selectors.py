"""Reads: the promotion guard, "why isn't this promoting?", and a pipeline's definition."""

from orbiter.catalog.models import Application, Artifact, Environment
from orbiter.deployments import preflight
from orbiter.deployments import states as dstates
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.pipelines import states
from orbiter.pipelines.engine import freeze_until
from orbiter.pipelines.models import GateRun, Pipeline, PipelineRun, Stage, StageOverride, StageRun

OUTPUT_SHOWN = 2000  # characters of a gate's output in the explanation's details


def stage_refusal(application: Application, environment: Environment, artifact: Artifact) -> str | None:
    """Why `artifact` may not be deployed to `environment` yet: a stage before it in the
    application's pipeline that it has not passed ("1.2.0-1 has not passed stage cert").
    None when it may: no pipeline, not a stage, the first stage, every earlier stage
    passed, or an admin's recorded override (`services.stage_override_grant`)."""
    stages = list(Stage.objects.filter(pipeline__application=application).select_related("environment")
                  .order_by("position"))
    position = next((s.position for s in stages if s.environment_id == environment.pk), None)
    if position is None:
        return None
    earlier = [s for s in stages if s.position < position]
    if not earlier:
        return None
    passed = set(StageRun.objects.filter(run__artifact=artifact, status=states.PASSED)
                 .values_list("environment_id", flat=True))
    missing = [s.environment.name for s in earlier if s.environment_id not in passed]
    if not missing or StageOverride.objects.filter(artifact=artifact, environment=environment).exists():
        return None
    return (f"{artifact.label} has not passed stage {missing[0]}"
            + (f" (nor {', '.join(missing[1:])})" if len(missing) > 1 else ""))


def why_not_promoting(artifact: Artifact) -> dict:
    """One sentence saying where `artifact` stands in its pipeline and what it waits for,
    plus the details behind it: the stage, its deployment, its gates with their output, the
    environment's lock or freeze. Also answers for an artifact that is moving or done."""
    app = artifact.application
    pipeline = Pipeline.objects.filter(application=app).first()
    label = artifact.label
    if pipeline is None:
        return _answer("no_pipeline", f"{app.name} has no pipeline: {label} moves only when someone deploys it",
                       {"application": app.name, "version": label})
    run = PipelineRun.objects.filter(pipeline=pipeline, artifact=artifact).select_related("superseded_by__artifact").first()
    details = {"application": app.name, "version": label, "continuous_delivery": pipeline.continuous_delivery,
               "policy": pipeline.policy}
    if run is None:
        if not pipeline.continuous_delivery:
            return _answer("continuous_delivery_off",
                           f"continuous delivery is off for {app.name}: {label} enters the pipeline only when "
                           "someone starts it", details)
        since = pipeline.continuous_delivery_since
        if since and artifact.found_at < since:
            return _answer("before_continuous_delivery",
                           f"{label} was found before continuous delivery was turned on for {app.name}; "
                           "start it by hand to put it in the pipeline", details)
        return _answer("not_started", f"{label} has not entered the pipeline yet (just found: it starts in moments)",
                       details)
    details["run"] = {"id": run.pk, "status": run.status, "message": run.message,
                      "stages": [_stage(s) for s in run.stage_runs.select_related("environment", "deployment")]}
    stage_run = _current(run)
    env = stage_run.environment.name if stage_run else ""
    if stage_run is not None:
        details["stage"] = _stage(stage_run, gates=True)

    if run.status == states.SUCCEEDED:
        return _answer("done", f"{label} passed every stage: {run.message}", details)
    if run.status == states.SUPERSEDED:
        newer = run.superseded_by.artifact.label if run.superseded_by else None
        sentence = (f"{label} was superseded by the newer {newer} and promotes no further" if newer
                    else f"{label} promotes no further: {run.message}")
        details["superseded_by"] = newer
        return _answer("superseded", sentence, details)
    if run.status == states.CANCELLED:
        return _answer("cancelled", f"{label} was taken out of the pipeline: {run.message}", details)
    if run.status == states.QUEUED:
        return _answer("queued", f"{label} is {run.message or 'queued'} (policy: queue)", details)
    if run.status == states.AWAITING_APPROVAL:
        return _answer("approval", f"{label} waits for a person to approve its promotion to {env} "
                                   f"(orbiter pipeline approve {app.name} {label} {env})", details)
    if run.status == states.BLOCKED:
        reason = _closed(stage_run.environment) if stage_run else None
        details["environment"] = reason or {}
        return _answer(reason["code"] if reason else "blocked",
                       f"{label} cannot enter {env}: {reason['message'] if reason else run.message.removeprefix('waiting: ')}; "
                       f"it goes on by itself {'when that ends' if reason else 'when that changes'}",
                       details)

    failed_gate = _gate(stage_run, states.G_FAILED)
    paused_gate = _gate(stage_run, states.G_PAUSED)
    if run.status == states.FAILED and failed_gate is not None:
        return _answer("gate_failed", f"{label} is stopped at {env}: gate {failed_gate.name} failed "
                                      f"({failed_gate.message}){_last_line(failed_gate.output)}", details)
    if run.status == states.FAILED:
        return _answer("deployment_failed", f"{label} is stopped at {env}: {run.message}", details)
    if run.status == states.PAUSED and paused_gate is not None:
        return _answer("gate_paused", f"{label} is paused at {env}: gate {paused_gate.name} {paused_gate.message}; "
                                      "a person retries it or decides it", details)
    if run.status == states.PAUSED:
        return _answer("paused", f"{label} is paused: {run.message}", details)

    # running
    if stage_run is None:
        return _answer("moving", f"{label} is moving", details)
    if stage_run.status == states.DEPLOYING and stage_run.deployment_id:
        deployment = Deployment.objects.get(pk=stage_run.deployment_id)
        if deployment.status == dstates.AWAITING_APPROVAL:
            return _answer("deployment_approval", f"{label}'s deployment #{deployment.pk} to {env} waits for "
                                                  f"approval (orbiter approve {deployment.pk})", details)
        if deployment.status == dstates.QUEUED:
            return _answer("deployment_queued", f"{label}'s deployment #{deployment.pk} to {env} is "
                                                f"{deployment.message or 'queued'}", details)
        done = HostDeployment.objects.filter(deployment=deployment, status=dstates.DONE).count()
        total = HostDeployment.objects.filter(deployment=deployment).count()
        return _answer("deploying", f"{label} is being deployed to {env} (deployment #{deployment.pk} "
                                    f"{deployment.status}, {done} of {total} host(s) done)", details)
    if stage_run.status == states.GATING:
        waiting = [g for g in stage_run.gate_runs.all() if g.status in states.GATE_OPEN]
        manual = [g for g in waiting if g.status == states.WAITING]
        if manual:
            return _answer("manual_gate", f"{label} waits at {env} for a person to decide gate {manual[0].name}",
                           details)
        names = ", ".join(f"{g.name} ({_gate_state(g)})" for g in waiting)
        return _answer("gates_running", f"{label} is deployed to {env} and waits for its gates: {names}", details)
    return _answer("moving", f"{label} is moving: {stage_run.environment.name} {stage_run.status}", details)


def _answer(reason: str, sentence: str, details: dict) -> dict:
    return {"sentence": sentence, "reason": reason, "details": details}


def _current(run: PipelineRun) -> StageRun | None:
    """The stage the run stands at: the first not passed, else the last."""
    stage_runs = list(run.stage_runs.select_related("environment").order_by("position"))
    open_ = [s for s in stage_runs if s.status != states.PASSED]
    return open_[0] if open_ else (stage_runs[-1] if stage_runs else None)


def _gate(stage_run: StageRun | None, status: str) -> GateRun | None:
    if stage_run is None:
        return None
    return GateRun.objects.filter(stage_run=stage_run, status=status).order_by("name").first()


def _gate_state(gate_run: GateRun) -> str:
    if gate_run.status == states.G_RUNNING:
        return f"running, attempt {gate_run.attempts + 1} of {gate_run.allowed_attempts}"
    if gate_run.attempts:
        return f"retrying after attempt {gate_run.attempts} {gate_run.outcome}"
    return gate_run.status


def _last_line(output: str) -> str:
    lines = [line for line in (output or "").splitlines() if line.strip()]
    return f"; last output: {lines[-1].strip()[:200]}" if lines else ""


def _stage(stage_run: StageRun, *, gates: bool = False) -> dict:
    data = {
        "environment": stage_run.environment.name,
        "status": stage_run.status,
        "message": stage_run.message,
        "deployment": stage_run.deployment_id,
        "approved_by": stage_run.approved_by,
        "deployed_at": stage_run.deployed_at,
        "finished_at": stage_run.finished_at,
    }
    if stage_run.deployment_id and stage_run.deployment is not None:
        data["deployment_status"] = stage_run.deployment.status
        data["deployment_message"] = stage_run.deployment.message
    if gates:
        data["gates"] = [
            {"name": g.name, "kind": g.kind, "status": g.status, "attempts": g.attempts,
             "allowed_attempts": g.allowed_attempts, "outcome": g.outcome, "message": g.message,
             "output": g.output[-OUTPUT_SHOWN:], "link": g.link, "decided_by": g.decided_by}
            for g in GateRun.objects.filter(stage_run=stage_run).order_by("name")
        ]
    return data


def _closed(environment: Environment) -> dict | None:
    if environment.is_locked:
        return {"code": "locked", "locked_by": environment.locked_by, "reason": environment.lock_reason,
                "message": f"{environment.name} is locked by {environment.locked_by}: {environment.lock_reason}"}
    freeze = preflight.active_freeze(environment)
    if freeze is not None:
        until = freeze_until(freeze)
        return {"code": "freeze", "until": until, "reason": freeze.reason,
                "message": f"{environment.name} is frozen until {until:%Y-%m-%d %H:%M} UTC: {freeze.reason}"}
    return None


def pipeline_describe(application: Application) -> dict | None:
    """The definition as `orbiter pipeline show` prints it (the same shape `apply` reads)."""
    pipeline = Pipeline.objects.filter(application=application).first()
    if pipeline is None:
        return None
    stages = []
    for stage in pipeline.stages.select_related("environment").prefetch_related("gates").order_by("position"):
        item = {"environment": stage.environment.name, "promotion": stage.promotion}
        if stage.url:
            item["url"] = stage.url
        item["gates"] = [
            {"name": g.name, "kind": g.kind, **g.options, "retries": g.retries, "retry_delay_s": g.retry_delay_s,
             "timeout_s": g.timeout_s}
            for g in stage.gates.all()
        ]
        stages.append(item)
    return {"application": application.name, "continuous_delivery": pipeline.continuous_delivery,
            "policy": pipeline.policy, "stages": stages}


def runs_recent(application: Application, *, limit: int = 10) -> list[PipelineRun]:
    return list(PipelineRun.objects.filter(pipeline__application=application).select_related("artifact")
                .prefetch_related("stage_runs__environment")[:limit])



def gates_passed_at(artifact: Artifact) -> dict[int, object]:
    """{environment id: when the artifact passed that stage's gates}, for lead-time metrics."""
    return dict(StageRun.objects.filter(run__artifact=artifact, status=states.PASSED)
                .values_list("environment_id", "finished_at"))
