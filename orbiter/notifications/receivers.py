"""The deployment_transitioned receiver: it only queues the fan-out task, and never raises."""

import logging
import uuid

from orbiter.notifications import events

log = logging.getLogger("orbiter.notifications")


def on_deployment_transitioned(sender, deployment, event, before, after, actor, **kwargs):
    if event not in events.BY_TRANSITION:
        return
    from orbiter.notifications.tasks import fan_out_task

    at = (deployment.updated_at.isoformat() if getattr(deployment, "updated_at", None) else None)
    try:
        # retry=False: with the broker down, fail now (logged) instead of holding up the engine.
        fan_out_task.apply_async(
            kwargs={"deployment_id": deployment.pk, "transition_event": event, "before": before, "after": after,
                    "actor": actor, "at": at, "transition": uuid.uuid4().hex},
            retry=False,
        )
    except Exception:
        log.exception("could not queue the notifications of deployment #%s (%s)", deployment.pk, event)
