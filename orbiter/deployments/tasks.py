"""Thin Celery tasks: take ids, call the engine or a service, return."""

from celery import shared_task

from orbiter.deployments import engine
from orbiter.deployments.services import deployments_sweep


@shared_task(name="orbiter.deployments.advance")
def advance_task(deployment_id: int) -> None:
    engine.advance(deployment_id)


@shared_task(name="orbiter.deployments.sweep")
def sweep_task() -> int:
    due = deployments_sweep()
    for deployment_id in due:
        advance_task.delay(deployment_id)
    return len(due)
