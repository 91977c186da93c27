"""Every write to pipelines: defining them, and what a person does to a run (approve a
promotion, retry or resume, decide a gate, start or cancel a run, let an artifact skip
stages). The UI, the API and the CLI all call these."""

from django.db import transaction
from django.utils import timezone

from orbiter.audit.services import event_record
from orbiter.catalog.models import Application, Artifact, Environment
from orbiter.common import validators
from orbiter.common.errors import NotFound, OrbiterError, ValidationError
from orbiter.deployments import preflight
from orbiter.pipelines import engine, states
from orbiter.pipelines.gates.base import registry as gate_kinds
from orbiter.pipelines.models import (
    POLICIES,
    PROMOTIONS,
    Gate,
    GateRun,
    Pipeline,
    PipelineRun,
    Stage,
    StageOverride,
    StageRun,
)
from orbiter.pipelines.transitions import transition

_PIPELINE_KEYS = {"application", "continuous_delivery", "policy", "stages"}
_STAGE_KEYS = {"environment", "promotion", "url", "gates"}
_GATE_KEYS = {"name", "kind", "retries", "retry_delay_s", "timeout_s"}


# --- definition -----------------------------------------------------------------------------


def pipeline_apply(*, spec: dict, actor: str) -> Pipeline:
    """Create or update an application's pipeline from a definition (what `orbiter pipeline
    apply FILE` reads). Everything is checked before anything changes. Runs in progress keep
    their history; they follow the new stages from their next step."""
    app, parsed = _parse(spec)
    now = timezone.now()
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().filter(application=app).first()
        cd_turned_on = parsed["continuous_delivery"] and (pipeline is None or not pipeline.continuous_delivery)
        if pipeline is None:
            pipeline = Pipeline(application=app)
        pipeline.continuous_delivery = parsed["continuous_delivery"]
        pipeline.policy = parsed["policy"]
        pipeline.updated_at = now
        if cd_turned_on:
            pipeline.continuous_delivery_since = now
        pipeline.save()
        existing = {s.environment_id: s for s in pipeline.stages.all()}
        wanted = {s["environment"].pk for s in parsed["stages"]}
        Stage.objects.filter(pipeline=pipeline).exclude(environment_id__in=wanted).delete()
        # Move the kept stages out of the way so the new positions never collide.
        for offset, stage in enumerate(existing.values()):
            Stage.objects.filter(pk=stage.pk).update(position=10_000 + offset)
        for position, item in enumerate(parsed["stages"]):
            stage = existing.get(item["environment"].pk) or Stage(pipeline=pipeline, environment=item["environment"])
            stage.position, stage.promotion, stage.url = position, item["promotion"], item["url"]
            stage.save()
            names = [g["name"] for g in item["gates"]]
            Gate.objects.filter(stage=stage).exclude(name__in=names).delete()
            for gate in item["gates"]:
                Gate.objects.update_or_create(stage=stage, name=gate["name"], defaults={
                    k: gate[k] for k in ("kind", "options", "retries", "retry_delay_s", "timeout_s")
                })
        event_record(actor=actor, verb="pipeline.apply", obj=pipeline, data={"spec": _jsonable(spec)})
    return pipeline


def pipeline_delete(*, application: Application | str, actor: str) -> None:
    """Delete an application's pipeline and its finished runs (the audit trail keeps their
    Events). Refused while a run is in progress: it would lose its way mid-stage."""
    name = application if isinstance(application, str) else application.name
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().filter(application__name=name).first()
        if pipeline is None:
            raise NotFound(f"{name} has no pipeline")
        active = sorted(pipeline.runs.filter(status__in=states.RUN_ACTIVE | {states.QUEUED})
                        .values_list("pk", flat=True))
        if active:
            raise OrbiterError(f"pipeline of {name}: runs {', '.join(f'#{pk}' for pk in active)} are in progress; "
                               "cancel them or let them finish first", runs=active)
        event_record(actor=actor, verb="pipeline.delete", obj=pipeline,
                     data={"runs": pipeline.runs.count(), "stages": [s.environment.name for s in
                                                                     pipeline.stages.select_related("environment")]})
        pipeline.delete()


def _parse(spec: dict) -> tuple[Application, dict]:
    if not isinstance(spec, dict):
        raise ValidationError("the pipeline definition must be a mapping (application, stages...)", field="spec")
    _keys("pipeline", spec, _PIPELINE_KEYS, {"application", "stages"})
    name = spec["application"]
    app = Application.objects.filter(name=name).first() if isinstance(name, str) else None
    if app is None:
        known = ", ".join(Application.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise ValidationError(f"application: unknown application {name!r}; known: {known}", field="application")
    cd = spec.get("continuous_delivery", True)
    if not isinstance(cd, bool):
        raise ValidationError("continuous_delivery: give true or false", field="continuous_delivery")
    policy = spec.get("policy", "supersede")
    if policy not in POLICIES:
        raise ValidationError(f"policy: {policy!r} is not allowed; allowed: {', '.join(POLICIES)}", field="policy")
    stages = spec["stages"]
    if not isinstance(stages, list) or not stages:
        raise ValidationError("stages: give at least one stage", field="stages")
    parsed, seen, last_order = [], set(), None
    for i, stage in enumerate(stages):
        where = f"stages[{i}]"
        _keys(where, stage, _STAGE_KEYS, {"environment"})
        env = Environment.objects.filter(name=stage["environment"]).first() if isinstance(stage["environment"], str) else None
        if env is None:
            known = ", ".join(Environment.objects.values_list("name", flat=True)) or "none yet"
            raise ValidationError(f"{where}.environment: unknown environment {stage['environment']!r}; known: {known}",
                                  field=f"{where}.environment")
        if env.pk in seen:
            raise ValidationError(f"{where}.environment: {env.name} is already a stage", field=f"{where}.environment")
        if last_order is not None and env.order < last_order:
            raise ValidationError(
                f"{where}.environment: {env.name} (order {env.order}) comes before the previous stage's "
                f"environment (order {last_order}); list stages in the environments' order",
                field=f"{where}.environment",
            )
        seen.add(env.pk)
        last_order = env.order
        promotion = stage.get("promotion", "automatic")
        if promotion not in PROMOTIONS:
            raise ValidationError(f"{where}.promotion: {promotion!r} is not allowed; allowed: {', '.join(PROMOTIONS)}",
                                  field=f"{where}.promotion")
        url = stage.get("url", "")
        if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
            raise ValidationError(f"{where}.url: give an http:// or https:// URL", field=f"{where}.url")
        gates = stage.get("gates", []) or []
        if not isinstance(gates, list):
            raise ValidationError(f"{where}.gates: give a list of gates", field=f"{where}.gates")
        parsed.append({"environment": env, "promotion": promotion, "url": url,
                       "gates": _parse_gates(where, gates)})
    return app, {"continuous_delivery": cd, "policy": policy, "stages": parsed}


def _parse_gates(where: str, gates: list) -> list[dict]:
    parsed, names = [], set()
    for j, gate in enumerate(gates):
        field = f"{where}.gates[{j}]"
        if not isinstance(gate, dict):
            raise ValidationError(f"{field}: give a mapping (name, kind, options...)", field=field)
        for key in ("name", "kind"):
            if key not in gate:
                raise ValidationError(f"{field}: missing {key}", field=f"{field}.{key}")
        validators.slug(f"{field}.name", gate["name"])
        if gate["name"] in names:
            raise ValidationError(f"{field}.name: {gate['name']!r} is used twice in this stage", field=f"{field}.name")
        names.add(gate["name"])
        if gate["kind"] not in gate_kinds.names():
            raise ValidationError(f"{field}.kind: {gate['kind']!r} is not allowed; allowed: {', '.join(gate_kinds.names())}",
                                  field=f"{field}.kind")
        retries = gate.get("retries", 0)
        delay = gate.get("retry_delay_s", 5)
        timeout = gate.get("timeout_s", 600)
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
            raise ValidationError(f"{field}.retries: give a whole number from 0 to 10", field=f"{field}.retries")
        if not isinstance(delay, int | float) or not 0 <= delay <= 3600:
            raise ValidationError(f"{field}.retry_delay_s: give seconds from 0 to 3600", field=f"{field}.retry_delay_s")
        if not isinstance(timeout, int | float) or not 0 < timeout <= 86_400:
            raise ValidationError(f"{field}.timeout_s: give seconds above 0, at most 86400", field=f"{field}.timeout_s")
        options = {k: v for k, v in gate.items() if k not in _GATE_KEYS}
        options = gate_kinds.get(gate["kind"]).validate(options, field_name=field)
        parsed.append({"name": gate["name"], "kind": gate["kind"], "options": options, "retries": retries,
                       "retry_delay_s": float(delay), "timeout_s": float(timeout)})
    return parsed


def _keys(where: str, value, allowed: set[str], required: set[str]) -> None:
    if not isinstance(value, dict):
        raise ValidationError(f"{where}: give a mapping", field=where)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
                              field=where)
    missing = sorted(required - set(value))
    if missing:
        raise ValidationError(f"{where}: missing {', '.join(missing)}", field=where)


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))


# --- what a person does to a run ----------------------------------------------------------


def pipeline_run_start(*, application: str, version: str, actor: str) -> PipelineRun:
    """Put an artifact in the pipeline by hand (also with continuous delivery off)."""
    app = Application.objects.filter(name=application).first()
    if app is None:
        raise NotFound(f"unknown application {application!r}")
    if not Pipeline.objects.filter(application=app).exists():
        raise OrbiterError(f"{app.name} has no pipeline; define one with: orbiter pipeline apply FILE")
    artifact = preflight.find_artifact(app, version)
    return engine.run_start(artifact, actor=actor)


def pipeline_approve(*, run: PipelineRun | int, stage: str, actor: str) -> PipelineRun:
    """A person approves the promotion of a run's artifact to `stage` (an environment name).
    When that environment also requires approval of deployments, this approval counts for it."""
    with transaction.atomic():
        run = _locked(run)
        stage_run = StageRun.objects.filter(run=run, environment__name=stage).first()
        if stage_run is None or stage_run.status != states.S_AWAITING_APPROVAL:
            waiting = StageRun.objects.filter(run=run, status=states.S_AWAITING_APPROVAL).select_related("environment")
            names = ", ".join(s.environment.name for s in waiting) or "nothing"
            raise OrbiterError(
                f"{run.artifact.label} is not waiting for approval to enter {stage}; it waits for: {names}",
                run=run.pk,
            )
        if actor == engine.ACTOR:
            raise ValidationError(f"actor: {actor!r} is reserved for the pipeline itself; give a person's name",
                                  field="actor")
        now = timezone.now()
        transition(stage_run, "approve", actor=actor, approved_by=actor, approved_at=now,
                   message=f"promotion approved by {actor}")
        transition(run, "approve", actor=actor, message=f"promotion to {stage} approved by {actor}")
        engine.wake(run.pk)
    return run


def pipeline_retry(*, run: PipelineRun | int, actor: str) -> PipelineRun:
    """Resume a paused run or retry a failed one: its paused or failed gates run again (with
    their full attempts), a failed deployment is requested again, a refused one is retried."""

    with transaction.atomic():
        run = _locked(run)
        if run.status not in (states.PAUSED, states.FAILED):
            raise OrbiterError(
                f"run #{run.pk} of {run.artifact.label} is {run.status}; only a paused or failed run can be retried",
                run=run.pk,
            )
        later = (PipelineRun.objects.filter(pipeline_id=run.pipeline_id, pk__gt=run.pk)
                 .exclude(status__in=[states.QUEUED, states.CANCELLED]).select_related("artifact").first())
        if later is not None and later.artifact.evr > run.artifact.evr:
            raise OrbiterError(f"{later.artifact.label} entered the pipeline after {run.artifact.label}; "
                               "retrying the older artifact would move environments backwards", run=run.pk)
        stage_run = (StageRun.objects.filter(run=run).exclude(status__in=[states.PASSED, states.S_CANCELLED])
                     .select_related("environment").order_by("position").first())
        gate_runs = list(GateRun.objects.filter(stage_run=stage_run, status__in=[states.G_FAILED, states.G_PAUSED])) \
            if stage_run else []
        now = timezone.now()
        for gate_run in gate_runs:
            transition(gate_run, "retry", actor=actor, attempts=0, outcome="", state={}, queued_at=now,
                       not_before=None, lease_until=None, decided_by="", message=f"retry asked by {actor}")
            if gate_kinds.get(gate_run.kind).manual:  # no worker runs it: a person decides again
                transition(gate_run, "await_person", actor=actor,
                           message=f"retry asked by {actor}: waiting for a person to pass or fail it")
                continue
            pk = gate_run.pk
            transaction.on_commit(lambda pk=pk: engine.publish_gate(pk))
        if stage_run is not None and stage_run.status == states.S_FAILED:
            transition(stage_run, "regate" if gate_runs else "retry", actor=actor, message=f"retry asked by {actor}")
        transition(run, "resume" if run.status == states.PAUSED else "retry", actor=actor,
                   message=f"retried by {actor}")
        engine.wake(run.pk)
    return run


def gate_decide(*, gate_run: GateRun | int, passed: bool, actor: str, comment: str = "") -> GateRun:
    """A person passes or fails a manual gate, or overrides a paused one (timed out, inconclusive)."""
    with transaction.atomic():
        pk = gate_run.pk if isinstance(gate_run, GateRun) else gate_run
        gate_run = GateRun.objects.select_related("stage_run__run__artifact").filter(pk=pk).first()
        if gate_run is None:
            raise NotFound(f"gate run #{pk} does not exist")
        run = _locked(gate_run.stage_run.run_id)
        if gate_run.status not in (states.WAITING, states.G_PAUSED):
            raise OrbiterError(f"gate {gate_run.name} is {gate_run.status}; a person decides only a manual gate "
                               "that waits or a paused gate (retry a failed one instead)", gate_run=gate_run.pk)
        if actor == engine.ACTOR:
            raise ValidationError(f"actor: {actor!r} is reserved for the pipeline itself", field="actor")
        verdict = "passed" if passed else "failed"
        transition(gate_run, "pass" if passed else "fail", actor=actor, decided_by=actor, lease_until=None,
                   message=f"{verdict} by {actor}" + (f": {comment}" if comment else ""), data={"comment": comment})
        if run.status == states.PAUSED and not GateRun.objects.filter(
            stage_run__run=run, status=states.G_PAUSED
        ).exists():
            transition(run, "resume", actor=actor, message=f"resumed: gate {gate_run.name} {verdict} by {actor}")
        engine.wake(run.pk)
    return gate_run


def pipeline_run_cancel(*, run: PipelineRun | int, actor: str, reason: str = "") -> PipelineRun:
    """Take an artifact out of the pipeline. A deployment already rolling out finishes."""
    with transaction.atomic():
        run = _locked(run)
        for stage_run in StageRun.objects.filter(run=run).exclude(status__in=[states.PASSED, states.S_CANCELLED]):
            engine.cancel_gates(stage_run, actor=actor, reason=f"run cancelled by {actor}")
            transition(stage_run, "cancel", actor=actor, message=f"run cancelled by {actor}")
        transition(run, "cancel", actor=actor, retry_at=None,
                   message=f"cancelled by {actor}" + (f": {reason}" if reason else ""))
        engine.wake_next_queued(run.pipeline_id)
    return run


def stage_override_grant(*, artifact: Artifact, environment: str, actor: str, reason: str) -> StageOverride:
    """An admin lets `artifact` be deployed to `environment` without passing the stages before
    it (the promotion guard, `selectors.stage_refusal`, then lets it through). Recorded."""
    env = Environment.objects.filter(name=environment).first()
    if env is None:
        raise ValidationError(f"environment: unknown environment {environment!r}", field="environment")
    if not reason or not reason.strip():
        raise ValidationError("reason: say why the stages are skipped (kept in the audit trail)", field="reason")
    with transaction.atomic():
        override = StageOverride.objects.create(artifact=artifact, environment=env, actor=actor, reason=reason.strip())
        event_record(actor=actor, verb="pipeline.stage_override", obj=artifact,
                     data={"environment": env.name, "artifact": artifact.label, "reason": override.reason})
    return override


def _locked(run: PipelineRun | int) -> PipelineRun:
    pk = run.pk if isinstance(run, PipelineRun) else run
    locked = (PipelineRun.objects.select_for_update(of=("self",)).select_related("artifact", "pipeline__application")
              .filter(pk=pk).first())
    if locked is None:
        raise NotFound(f"pipeline run #{pk} does not exist")
    return locked
