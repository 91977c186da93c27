"""Thin Celery tasks: take ids, call the engine or the gate runner, return."""

from celery import shared_task

from orbiter.pipelines import engine, gaterunner


@shared_task(name="orbiter.pipelines.artifact_arrived")
def artifact_arrived_task(artifact_id: int) -> None:
    from orbiter.catalog.models import Artifact

    artifact = Artifact.objects.filter(pk=artifact_id).first()
    if artifact is not None:
        engine.run_start(artifact)


@shared_task(name="orbiter.pipelines.deployment_finished")
def deployment_finished_task(deployment_id: int) -> None:
    from orbiter.pipelines.models import StageRun

    for run_id in StageRun.objects.filter(deployment_id=deployment_id).values_list("run_id", flat=True):
        engine.advance(run_id)


@shared_task(name="orbiter.pipelines.advance")
def advance_task(run_id: int) -> None:
    engine.advance(run_id)


@shared_task(name="orbiter.pipelines.gate")
def gate_task(gate_run_id: int) -> None:
    gaterunner.gate_run_execute(gate_run_id)


@shared_task(name="orbiter.pipelines.sweep")
def sweep_task() -> dict:
    return gaterunner.pipelines_sweep()
