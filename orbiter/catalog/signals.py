"""Signals other apps subscribe to, so the catalog does not import them.

`artifact_registered(sender=Artifact, artifact=…)` is sent once per new artifact (never
for a repeated announcement of the same NEVRA), after the registration committed.
Receivers are called with `send_robust`; one that has real work to do queues a task.
"""

from django.dispatch import Signal

artifact_registered = Signal()
