"""The only code that changes a pipeline, stage or gate run's status: compare-and-set plus
an audit Event, in one transaction (the same contract as `deployments/transitions.py`)."""

from django.db import transaction
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.common.errors import Conflict
from orbiter.pipelines import states
from orbiter.pipelines.models import GateRun, PipelineRun, StageRun

_KIND = {PipelineRun: "run", StageRun: "stage", GateRun: "gate"}
_OBJECT_TYPE = {PipelineRun: "pipelinerun", StageRun: "stagerun", GateRun: "gaterun"}
_FINISHED = {
    "run": states.RUN_FINAL | {states.FAILED},
    "stage": {states.PASSED, states.S_FAILED, states.S_CANCELLED},
    "gate": {states.G_PASSED, states.G_FAILED, states.G_PAUSED, states.G_CANCELLED},
}


def transition(obj, event: str, *, actor: str, data: dict | None = None, where: dict | None = None, **changes):
    """Move a PipelineRun, StageRun or GateRun by `event`.

    `where` adds conditions to the compare-and-set (a gate result names the attempt it is
    for). Raises IllegalTransition, or Conflict when someone moved the row first.
    """
    model = type(obj)
    kind = _KIND[model]
    new = states.target(kind, obj.status, event)
    now = timezone.now()
    if "finished_at" not in changes:
        changes["finished_at"] = now if new in _FINISHED[kind] else None
    if model is PipelineRun:
        changes["updated_at"] = now
    with transaction.atomic(savepoint=False):
        updated = model.objects.filter(pk=obj.pk, status=obj.status, **(where or {})).update(status=new, **changes)
        if updated != 1:
            raise Conflict(f"{kind} run #{obj.pk} changed meanwhile; reload and try again")
        Event.objects.create(
            created_at=now,
            actor=actor,
            verb=f"pipeline.{kind}.{event}",
            object_type=_OBJECT_TYPE[model],
            object_id=str(obj.pk),
            before=obj.status,
            after=new,
            data={**({"message": changes["message"]} if changes.get("message") else {}), **(data or {})},
        )
    obj.status = new
    for name, value in changes.items():
        setattr(obj, name, value)
    return obj
