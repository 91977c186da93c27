"""The pipeline reconciler: `advance(run_id)` brings one artifact's run as far as it can go now.

Like the deployment engine it keeps nothing in memory: it locks the run row, reads where
the run stands (stage runs, their deployment, gate runs) and takes the next idempotent
step, again until nothing more can happen now:

1. a queued run starts when the policy lets it (`queue`: no older run is still active);
2. the next stage not yet passed gets its stage run; a stage promoted by `approval` waits
   for a person (`services.pipeline_approve`);
3. a pending or blocked stage asks for its deployment through `deployment_create` (actor
   "pipeline", queued behind any deployment in progress). A lock, a freeze or too few
   healthy hosts blocks the run until `retry_at` (the sweeper tries again); a refusal a
   person must resolve pauses it;
4. a deploying stage waits for its deployment: succeeded → its gates are queued (workers
   run them in parallel, `gaterunner.py`); unsuccessful → the run fails;
5. a gating stage passes when every gate passed; a failed gate fails the run, a paused
   gate (timeout, inconclusive) pauses it for a person;
6. after the last stage the run has succeeded.

It is called after a deployment finishes, after a gate result, by services, and by the
sweeper (`pipelines_sweep`), which is what recovers from a lost message or a dead worker.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orbiter.audit.services import event_record
from orbiter.catalog.models import Artifact
from orbiter.catalog.selectors import deployable_hosts
from orbiter.common.errors import Conflict, OrbiterError, PreflightRefused, ValidationError
from orbiter.deployments import preflight
from orbiter.deployments import states as dstates
from orbiter.deployments.models import Deployment
from orbiter.pipelines import states
from orbiter.pipelines.models import (
    APPROVAL,
    SUPERSEDE,
    GateRun,
    Pipeline,
    PipelineRun,
    Stage,
    StageRun,
)
from orbiter.pipelines.transitions import transition

log = logging.getLogger("orbiter.pipelines")

ACTOR = "pipeline"
MAX_STEPS = 50
# Refusals that end by themselves: the run is blocked and tried again.
_WAIT_CODES = {"environment_locked", "freeze_window", "not_enough_healthy_hosts", "deployment_in_progress"}


def retry_seconds() -> float:
    return float(getattr(settings, "ORBITER_PIPELINE_RETRY_SECONDS", 15))


# --- entry points ---------------------------------------------------------------------------


def run_start(artifact: Artifact, *, actor: str = ACTOR) -> PipelineRun | None:
    """Put an artifact in its application's pipeline (idempotent: one run per artifact).

    The pipeline itself (actor "pipeline") starts runs only with continuous delivery on, for
    artifacts found since it was turned on; a person may start one by hand either way.
    Applies the policy to the older runs.
    """
    pipeline = Pipeline.objects.filter(application_id=artifact.application_id).first()
    if pipeline is None:
        return None
    if actor == ACTOR and not (pipeline.continuous_delivery and pipeline.continuous_delivery_since
                               and artifact.found_at >= pipeline.continuous_delivery_since):
        return None  # builds found before continuous delivery was turned on stay where they are
    with transaction.atomic():
        Pipeline.objects.select_for_update().filter(pk=pipeline.pk).first()  # one arrival at a time
        run, created = PipelineRun.objects.get_or_create(
            pipeline=pipeline, artifact=artifact, defaults={"started_by": actor}
        )
        if not created:
            return run
        event_record(actor=actor, verb="pipeline.run.create", obj=run, after=run.status,
                     data={"artifact": artifact.label, "policy": pipeline.policy})
        others = list(
            PipelineRun.objects.select_for_update(of=("self",)).select_related("artifact")
            .filter(pipeline=pipeline).exclude(pk=run.pk).exclude(status__in=[states.CANCELLED])
        )
        newer = sorted((o for o in others if o.artifact.evr > artifact.evr), key=lambda o: o.artifact.evr)
        if newer:
            transition(run, "supersede", actor=actor, superseded_by=newer[-1],
                       message=f"a newer artifact, {newer[-1].artifact.label}, is already in the pipeline")
            return run
        if pipeline.policy == SUPERSEDE:
            for older in others:
                if older.status not in states.RUN_FINAL:
                    supersede(older, by=run, actor=actor)
        wake(run.pk)
    return run


def advance(run_id: int) -> None:
    """Bring one run as far as it can go now. Safe to call any time, twice, anywhere."""
    with transaction.atomic():
        run = (
            PipelineRun.objects.select_for_update(of=("self",))
            .select_related("pipeline__application", "artifact")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return
        now = timezone.now()
        PipelineRun.objects.filter(pk=run.pk).update(advanced_at=now)
        if run.status == states.QUEUED and not _may_start(run):
            return
        if run.status == states.QUEUED:
            transition(run, "start", actor=ACTOR, message="")
        for _ in range(MAX_STEPS):
            if run.status not in (states.RUNNING, states.BLOCKED) or not _step(run, now):
                break
        if run.status not in states.RUN_ACTIVE:
            wake_next_queued(run.pipeline_id)


def wake(run_id: int, countdown: float = 0.0) -> None:
    """Queue advance(run_id) after the current transaction commits."""
    from orbiter.pipelines.tasks import advance_task

    transaction.on_commit(lambda: publish(advance_task, run_id, countdown=countdown))


def wake_next_queued(pipeline_id: int) -> None:
    follower = (
        PipelineRun.objects.filter(pipeline_id=pipeline_id, status=states.QUEUED)
        .order_by("id").values_list("pk", flat=True).first()
    )
    if follower:
        wake(follower)


def publish(task, *args, countdown: float = 0.0, queue: str | None = None) -> None:
    """Queue a task; if the broker is down the change stands and the sweeper picks it up."""
    try:
        task.apply_async(args=list(args), countdown=countdown, **({"queue": queue} if queue else {}))
    except Exception:
        log.warning("could not queue %s%s; the sweeper will", task.name, args, exc_info=True)


def publish_gate(gate_run_id: int, countdown: float = 0.0) -> None:
    """Queue one gate attempt, on ORBITER_GATE_QUEUE when set: long gates (a Selenium suite, a
    Jenkins build) hold a worker process, so they may get workers of their own."""
    from orbiter.pipelines.tasks import gate_task

    publish(gate_task, gate_run_id, countdown=countdown, queue=getattr(settings, "ORBITER_GATE_QUEUE", "") or None)


def supersede(run: PipelineRun, *, by: PipelineRun, actor: str) -> None:
    """Stop an older run for a newer one: its open gates are cancelled, a deployment of it that
    has not started is cancelled (one already rolling out finishes: stopping it halfway would
    leave the environment mixed), and it promotes no further."""
    from orbiter.deployments.services import deployment_cancel

    message = f"superseded by {by.artifact.label}"
    for stage_run in StageRun.objects.filter(run=run).exclude(status__in=[states.PASSED, states.S_CANCELLED]):
        cancel_gates(stage_run, actor=actor, reason=message)
        deployment = stage_run.deployment
        if deployment is not None and deployment.status in (dstates.QUEUED, dstates.AWAITING_APPROVAL):
            try:
                deployment_cancel(deployment_id=deployment.pk, actor=actor)
            except OrbiterError as error:
                log.info("run #%s: could not cancel deployment #%s: %s", run.pk, deployment.pk, error.message)
        transition(stage_run, "cancel", actor=actor, message=message)
    transition(run, "supersede", actor=actor, superseded_by=by, message=message)


# --- one step -------------------------------------------------------------------------------


def _may_start(run: PipelineRun) -> bool:
    """Policy `queue`: wait while an older run is still in the pipeline (first come, first served)."""
    ahead = (
        PipelineRun.objects.filter(pipeline_id=run.pipeline_id, pk__lt=run.pk)
        .filter(status__in=[*states.RUN_ACTIVE, states.QUEUED])
        .select_related("artifact").order_by("id").first()
    )
    if ahead is None:
        return True
    message = f"queued behind {ahead.artifact.label} (run #{ahead.pk}, {ahead.status.replace('_', ' ')})"
    if run.message != message:
        PipelineRun.objects.filter(pk=run.pk).update(message=message, updated_at=timezone.now())
    return False


def next_stage(run: PipelineRun) -> Stage | None:
    passed = set(StageRun.objects.filter(run=run, status=states.PASSED).values_list("environment_id", flat=True))
    for stage in Stage.objects.filter(pipeline_id=run.pipeline_id).select_related("environment").order_by("position"):
        if stage.environment_id not in passed:
            return stage
    return None


def _step(run: PipelineRun, now: datetime) -> bool:
    """Take the next step of a running (or blocked) run; True when another step may follow."""
    stage = next_stage(run)
    if stage is None:
        last = StageRun.objects.filter(run=run).order_by("-position").select_related("environment").first()
        transition(run, "succeed", actor=ACTOR, retry_at=None,
                   message=f"reached {last.environment.name}" if last else "no stages")
        return False
    stage_run, _ = StageRun.objects.select_related("environment", "deployment").get_or_create(
        run=run, environment=stage.environment, defaults={"stage": stage, "position": stage.position}
    )
    status = stage_run.status
    if status == states.S_PENDING and stage.promotion == APPROVAL and not stage_run.approved_by:
        message = f"waiting for approval to promote {run.artifact.label} to {stage.environment.name}"
        transition(stage_run, "require_approval", actor=ACTOR, message=message)
        transition(run, "wait_approval", actor=ACTOR, message=message)
        return False
    if status == states.S_PENDING or (status == states.S_BLOCKED and (run.retry_at is None or run.retry_at <= now)):
        return _deploy(run, stage_run, now)
    if status == states.DEPLOYING:
        return _check_deployment(run, stage, stage_run, now)
    if status == states.GATING:
        return _check_gates(run, stage_run)
    return False


def _deploy(run: PipelineRun, stage_run: StageRun, now: datetime) -> bool:
    from orbiter.deployments.services import deployment_approve, deployment_create

    env = stage_run.environment
    try:
        preflight.refuse_if_closed(env)  # checked first: a long lock must not fill the audit trail with refusals
        deployment = deployment_create(
            application=run.pipeline.application.name, environment=env.name, version=run.artifact.label,
            actor=ACTOR, queue=True,
            comment=f"pipeline run #{run.pk}: stage {stage_run.position + 1}, {env.name}",
        )
    except PreflightRefused as refusal:
        if refusal.code in _WAIT_CODES:
            return _block(run, stage_run, refusal, now)
        if refusal.code == "already_deployed":
            transition(stage_run, "deploy", actor=ACTOR, deploy_requested_at=timezone.now(), deployed_at=timezone.now(),
                       message=f"{run.artifact.label} was already deployed on every host of {env.name}")
            _unblock(run)
            return True
        if refusal.code == "downgrade":
            transition(stage_run, "cancel", actor=ACTOR, message=refusal.message)
            transition(run, "supersede", actor=ACTOR, retry_at=None, message=f"not deployed: {refusal.message}")
            return False
        return _pause(run, f"the deployment to {env.name} was refused: {refusal.message} (code: {refusal.code})")
    except ValidationError as error:
        return _pause(run, f"the deployment to {env.name} was refused: {error.message}")
    transition(stage_run, "deploy", actor=ACTOR, deployment=deployment, deploy_requested_at=timezone.now(),
               message=f"deployment #{deployment.pk} {deployment.status}")
    _unblock(run)
    if deployment.status == dstates.AWAITING_APPROVAL and stage_run.approved_by:
        # The person who approved the promotion approves the protected environment's deployment too.
        try:
            deployment_approve(deployment_id=deployment.pk, actor=stage_run.approved_by)
        except OrbiterError as error:
            log.info("run #%s: deployment #%s stays awaiting approval: %s", run.pk, deployment.pk, error.message)
    return True


def _block(run: PipelineRun, stage_run: StageRun, refusal: PreflightRefused, now: datetime) -> bool:
    freeze = preflight.active_freeze(stage_run.environment) if refusal.code == "freeze_window" else None
    # Asked again at the freeze's end, or sooner: a lock has no end, and a freeze may be lifted early.
    until = freeze_until(freeze)
    retry_at = now + timedelta(seconds=retry_seconds())
    if until and now < until < retry_at:
        retry_at = until
    message = f"waiting: {refusal.message}"
    if stage_run.status != states.S_BLOCKED or stage_run.message != message:
        transition(stage_run, "block", actor=ACTOR, message=message, data={"code": refusal.code})
    if run.status != states.BLOCKED or run.message != message:
        transition(run, "block", actor=ACTOR, message=message, retry_at=retry_at, data={"code": refusal.code})
    else:
        PipelineRun.objects.filter(pk=run.pk).update(retry_at=retry_at)
        run.retry_at = retry_at
    delay = (retry_at - now).total_seconds()
    if delay < 60:
        wake(run.pk, countdown=delay + 0.05)
    return False


def _unblock(run: PipelineRun) -> None:
    if run.status == states.BLOCKED:
        transition(run, "unblock", actor=ACTOR, retry_at=None, message="")


def _pause(run: PipelineRun, message: str) -> bool:
    if run.status == states.BLOCKED:
        transition(run, "unblock", actor=ACTOR, retry_at=None)
    transition(run, "pause", actor=ACTOR, message=message)
    return False


def _check_deployment(run: PipelineRun, stage: Stage, stage_run: StageRun, now: datetime) -> bool:
    if stage_run.deployment_id is None:  # it was already there
        return _start_gates(run, stage, stage_run, now)
    deployment = Deployment.objects.get(pk=stage_run.deployment_id)
    if deployment.status == dstates.SUCCEEDED:
        stage_run.deployed_at = deployment.finished_at or now
        return _start_gates(run, stage, stage_run, now)
    if deployment.status in dstates.UNSUCCESSFUL:
        message = (f"deployment #{deployment.pk} of {run.artifact.label} to {stage_run.environment.name} "
                   f"{deployment.status}" + (f": {deployment.message}" if deployment.message else ""))
        transition(stage_run, "fail", actor=ACTOR, message=message)
        transition(run, "fail", actor=ACTOR, message=message)
    return False


def _start_gates(run: PipelineRun, stage: Stage, stage_run: StageRun, now: datetime) -> bool:
    from orbiter.pipelines.gates.base import registry

    gates = list(stage.gates.all())
    transition(stage_run, "gate", actor=ACTOR, deployed_at=stage_run.deployed_at or now, gates_started_at=timezone.now(),
               message=f"{len(gates)} gate(s)" if gates else "no gates")
    GateRun.objects.bulk_create(
        GateRun(stage_run=stage_run, gate=gate, name=gate.name, kind=gate.kind, allowed_attempts=gate.retries + 1,
                queued_at=now)
        for gate in gates
    )
    for gate_run in GateRun.objects.filter(stage_run=stage_run).select_related("gate"):
        if registry.get(gate_run.kind).manual:
            instructions = (gate_run.gate.options or {}).get("instructions", "")
            transition(gate_run, "await_person", actor=ACTOR,
                       message=f"waiting for a person to pass or fail it{': ' + instructions if instructions else ''}")
        else:
            pk = gate_run.pk
            transaction.on_commit(lambda pk=pk: publish_gate(pk))
    return True


def _check_gates(run: PipelineRun, stage_run: StageRun) -> bool:
    env = stage_run.environment.name
    gate_runs = list(GateRun.objects.filter(stage_run=stage_run))
    failed = [g for g in gate_runs if g.status == states.G_FAILED]
    if failed:
        message = f"gate {failed[0].name} at {env} failed: {failed[0].message}"
        transition(stage_run, "fail", actor=ACTOR, message=message)
        transition(run, "fail", actor=ACTOR, message=message, data={"gate": failed[0].name})
        return False
    paused = [g for g in gate_runs if g.status == states.G_PAUSED]
    if paused:
        return _pause(run, f"gate {paused[0].name} at {env} needs a person: {paused[0].message}")
    if all(g.status == states.G_PASSED for g in gate_runs):
        transition(stage_run, "pass", actor=ACTOR,
                   message=f"{len(gate_runs)} gate(s) passed" if gate_runs else "deployed, no gates")
        return True
    return False


def cancel_gates(stage_run: StageRun, *, actor: str, reason: str) -> None:
    for gate_run in GateRun.objects.filter(
        stage_run=stage_run, status__in=[*states.GATE_OPEN, states.G_PAUSED]
    ):
        try:
            transition(gate_run, "cancel", actor=actor, lease_until=None, message=reason)
        except Conflict:  # a worker recorded its result meanwhile; cancelled runs ignore it
            pass


def freeze_until(freeze) -> datetime | None:
    """When an open freeze window closes (one-off windows and weekly ones name it differently)."""
    return getattr(freeze, "until", None) or getattr(freeze, "ends_at", None) if freeze is not None else None


def stage_hosts(run: PipelineRun, environment_id: int) -> list[str]:
    return list(
        deployable_hosts(environment=environment_id, application=run.pipeline.application_id)
        .order_by("certname").values_list("certname", flat=True)
    )
