"""Signals other apps subscribe to, so the engine does not import them.

`deployment_finished(sender=Deployment, deployment=…)` is sent once a deployment reached a
completed status (succeeded, failed, cancelled, rejected, rolled back), after the change
committed. Receivers must be quick and must not raise: they are called with
`send_robust`, and a receiver's error is logged, never allowed to stop the engine. A
receiver that has real work to do queues a task.
"""

from django.dispatch import Signal

deployment_finished = Signal()
