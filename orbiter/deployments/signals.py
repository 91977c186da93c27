"""Signals other apps subscribe to, so the engine does not import them.

`deployment_finished(sender=Deployment, deployment=…)` is sent once a deployment reached a
completed status (succeeded, failed, cancelled, rejected, rolled back), after the change
committed: pipelines subscribe to it.

`deployment_transitioned(sender=Deployment, deployment=…, event=…, before=…, after=…, actor=…)`
is sent after every committed status change of a deployment (approved, started, paused,
succeeded, failed…): notifications subscribe to it. A request that needs approval is the
transition `require_approval` (pending → awaiting_approval).

Receivers must be quick and must not raise: they are called with `send_robust`, and a
receiver's error is logged, never allowed to stop the engine. A receiver that has real
work to do queues a task.
"""

import logging

from django.dispatch import Signal

log = logging.getLogger("orbiter.signals")

deployment_finished = Signal()
deployment_transitioned = Signal()


def send(signal: Signal, **kwargs) -> None:
    """Send `signal` to every receiver; log, never raise, a receiver's error."""
    from orbiter.deployments.models import Deployment

    for receiver, result in signal.send_robust(sender=Deployment, **kwargs):
        if isinstance(result, Exception):
            log.error("%s receiver %r failed: %s", kwargs.get("deployment"), receiver, result, exc_info=result)
