"""Subscribers to the catalog's and the engine's signals. They only queue a task: quick,
and never raising (a broker that is down is logged; the sweeper catches up)."""

import logging

log = logging.getLogger("orbiter.pipelines")


def on_artifact_registered(sender, artifact, **kwargs) -> None:
    from orbiter.pipelines.engine import publish
    from orbiter.pipelines.tasks import artifact_arrived_task

    publish(artifact_arrived_task, artifact.pk)


def on_deployment_finished(sender, deployment, **kwargs) -> None:
    from orbiter.pipelines.engine import publish
    from orbiter.pipelines.tasks import deployment_finished_task

    publish(deployment_finished_task, deployment.pk)


def connect() -> None:
    from orbiter.catalog.signals import artifact_registered
    from orbiter.deployments.signals import deployment_finished

    artifact_registered.connect(on_artifact_registered, dispatch_uid="pipelines.artifact_registered")
    deployment_finished.connect(on_deployment_finished, dispatch_uid="pipelines.deployment_finished")
