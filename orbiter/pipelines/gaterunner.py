"""Running one gate attempt on a worker, and the sweeper that recovers lost ones.

1. claim: compare-and-set pending → running with a lease (`timeout_s` + a grace period);
   a second task for the same gate run loses the claim and returns;
2. run the driver outside any transaction (it may take minutes), with its checkpoint
   (`state`) saved as it goes;
3. record, by compare-and-set on (status running, attempts): passed; or another attempt
   after `retry_delay_s` while attempts remain; or failed (a definite failure) / paused
   (timed out or inconclusive: a person decides) — then wake the run.

A worker killed mid-attempt leaves the gate run `running`; when its lease expires the
sweeper puts it back to pending (same attempt number, checkpoint kept) and queues it again.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from orbiter.common.errors import Conflict
from orbiter.pipelines import engine, states
from orbiter.pipelines.gates.base import FAILED, PASSED, GateContext, GateResult, registry
from orbiter.pipelines.models import GateRun, PipelineRun
from orbiter.pipelines.transitions import transition

log = logging.getLogger("orbiter.pipelines")

LEASE_GRACE_SECONDS = 30.0


def gate_run_execute(gate_run_id: int) -> None:

    now = timezone.now()
    gate_run = (
        GateRun.objects.select_related("gate", "stage_run__environment", "stage_run__stage",
                                       "stage_run__run__artifact", "stage_run__run__pipeline__application")
        .filter(pk=gate_run_id).first()
    )
    if gate_run is None or gate_run.status != states.G_PENDING:
        return
    if gate_run.not_before and gate_run.not_before > now:  # an early duplicate: the delayed one will come
        return
    if gate_run.gate is None:
        transition(gate_run, "cancel", actor=engine.ACTOR, message="the gate was removed from the pipeline")
        engine.wake(gate_run.stage_run.run_id)
        return
    gate = gate_run.gate
    try:
        transition(
            gate_run, "claim", actor=engine.ACTOR, lease_until=now + timedelta(seconds=gate.timeout_s + LEASE_GRACE_SECONDS),
            started_at=gate_run.started_at or now, not_before=None,
            message=f"attempt {gate_run.attempts + 1} of {gate_run.allowed_attempts} running",
        )
    except Conflict:
        return
    result = _run_driver(gate_run)
    delay = _record(gate_run, result)
    if delay is not None:
        engine.publish_gate(gate_run.pk, countdown=delay)


def _context(gate_run: GateRun) -> GateContext:
    stage_run = gate_run.stage_run
    run = stage_run.run
    artifact = run.artifact

    def save_state(state: dict) -> None:
        GateRun.objects.filter(pk=gate_run.pk, status=states.G_RUNNING).update(state=state)

    return GateContext(
        application=run.pipeline.application.name,
        package=run.pipeline.application.package,
        environment=stage_run.environment.name,
        version=artifact.label,
        nevra=str(artifact),
        stage_url=stage_run.stage.url if stage_run.stage else "",
        hosts=engine.stage_hosts(run, stage_run.environment_id),
        deployment_id=stage_run.deployment_id,
        run_id=run.pk,
        attempt=gate_run.attempts + 1,
        timeout_s=gate_run.gate.timeout_s,
        state=dict(gate_run.state or {}),
        save_state=save_state,
    )


def _run_driver(gate_run: GateRun) -> GateResult:
    try:
        driver = registry.get(gate_run.kind)()
        return driver.run(gate_run.gate.options, _context(gate_run))
    except Exception as error:  # a driver bug must not leave the gate running until its lease expires
        log.exception("gate run #%s (%s) raised", gate_run.pk, gate_run.kind)
        return GateResult("inconclusive", f"the {gate_run.kind} gate raised {type(error).__name__}: {error}")


def _record(gate_run: GateRun, result: GateResult) -> float | None:
    """Record one attempt's result; returns the delay of the next attempt, if there is one."""
    gate = gate_run.gate
    attempts = gate_run.attempts + 1
    fields = {
        "attempts": attempts, "outcome": result.outcome, "output": result.output,
        "link": result.link or gate_run.link, "lease_until": None,
    }
    where = {"attempts": gate_run.attempts}
    verdict = {PASSED: "passed", FAILED: "failed"}.get(result.outcome, result.outcome)
    message = result.message or verdict
    delay = None
    try:
        with transaction.atomic():
            if result.outcome == PASSED:
                transition(gate_run, "pass", actor=engine.ACTOR, where=where, message=message, **fields)
            elif attempts < gate_run.allowed_attempts:
                delay = gate.retry_delay_s
                transition(
                    gate_run, "requeue", actor=engine.ACTOR, where=where, state={},
                    queued_at=timezone.now(), not_before=timezone.now() + timedelta(seconds=delay),
                    message=f"attempt {attempts} {verdict}: {message}; trying again in {delay:g}s", **fields,
                )
            elif result.outcome == FAILED:
                transition(gate_run, "fail", actor=engine.ACTOR, where=where, message=message, **fields)
            else:
                reason = "timed out" if result.outcome == "timeout" else "inconclusive"
                transition(gate_run, "pause", actor=engine.ACTOR, where=where,
                           message=f"{reason} after {attempts} attempt(s): {message}", **fields)
            if delay is None:
                engine.wake(gate_run.stage_run.run_id)
    except Conflict:  # cancelled (superseded), or the lease expired and another attempt took over
        log.info("gate run #%s: result of attempt %s not recorded (%s)", gate_run.pk, attempts, result.outcome)
        return None
    return delay


def pipelines_sweep(*, now: datetime | None = None) -> dict:
    """Recover what a dead worker or a lost message left behind, and retry blocked runs.
    Returns what it found (for logs and tests)."""
    from orbiter.pipelines.tasks import advance_task

    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ORBITER_STALE_SECONDS)
    found = {"expired": 0, "requeued": 0, "runs": 0}
    for gate_run in GateRun.objects.filter(status=states.G_RUNNING, lease_until__lt=now)[:200]:
        try:
            transition(gate_run, "requeue", actor=engine.ACTOR, where={"lease_until__lt": now}, lease_until=None,
                       queued_at=now, message=f"attempt {gate_run.attempts + 1} lost its worker; running it again")
        except Conflict:
            continue
        found["expired"] += 1
        engine.publish_gate(gate_run.pk)
    lost = (
        GateRun.objects.filter(status=states.G_PENDING)
        .annotate(due=Coalesce("not_before", "queued_at"))
        .filter(Q(due__lt=stale) | Q(due__isnull=True))
        .values_list("pk", flat=True)[:200]
    )
    for pk in list(lost):
        if GateRun.objects.filter(pk=pk, status=states.G_PENDING).update(queued_at=now, not_before=None):
            found["requeued"] += 1
            engine.publish_gate(pk)
    runs = (
        PipelineRun.objects.filter(
            Q(status=states.BLOCKED, retry_at__lte=now)
            | Q(status__in=[states.RUNNING, states.QUEUED, states.BLOCKED])
            & (Q(advanced_at__lt=stale) | Q(advanced_at__isnull=True))
        )
        .order_by("id").values_list("pk", flat=True)[:500]
    )
    for pk in runs:
        found["runs"] += 1
        engine.publish(advance_task, pk)
    found["arrivals"] = _lost_arrivals(now, stale)
    return found


def _lost_arrivals(now: datetime, stale: datetime) -> int:
    """Artifacts found lately, under continuous delivery, that no run took up: their task was lost."""
    from django.db.models import F

    from orbiter.catalog.models import Artifact
    from orbiter.pipelines.tasks import artifact_arrived_task

    lost = (
        Artifact.objects.filter(
            application__pipeline__continuous_delivery=True,
            found_at__gte=F("application__pipeline__continuous_delivery_since"),
            found_at__lt=stale, found_at__gt=now - timedelta(hours=1), pipeline_runs__isnull=True,
        ).values_list("pk", flat=True)[:50]
    )
    count = 0
    for pk in lost:
        count += 1
        engine.publish(artifact_arrived_task, pk)
    return count
