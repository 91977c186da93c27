"""Thin Celery tasks: take ids, call the engine or a service, return."""

from celery import shared_task

from orbiter.deployments import engine
from orbiter.deployments.services import deployments_sweep


@shared_task(name="orbiter.deployments.advance")
def advance_task(deployment_id: int) -> None:
    engine.advance(deployment_id)


@shared_task(name="orbiter.deployments.sweep")
def sweep_task(*, everything: bool = False) -> int:
    """Advance the deployments due now; `everything`: every active one (queued when the
    worker has just (re)connected to the broker, which may have lost their wake-ups)."""
    due = deployments_sweep(stale_seconds=0 if everything else None)
    for deployment_id in due:
        advance_task.delay(deployment_id)
    return len(due)
