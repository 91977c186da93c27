"""Who of the control plane's background processes is alive: each beats here at most every
BEAT_SECONDS (the scheduler on each tick, a worker after its tasks - the sweeps run every
ORBITER_SWEEP_SECONDS - and `orbiter listen` in its loop); /healthz reports the age of the
last beat per role.

A beat never raises: a database that cannot be reached is for /healthz to report, and it
must not stop the process that beats. The broken connection is closed, so the next beat
connects again.
"""

import logging
import os
import socket
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

log = logging.getLogger("orbiter.liveness")

ROLES = ("scheduler", "worker", "listener")
BEAT_SECONDS = 5.0
FORGET_AFTER = timedelta(days=1)  # rows of processes long gone are deleted

_last_beat: dict[str, float] = {}


def beat(role: str, instance: str | None = None) -> bool:
    """Record that this process (of `role`) is alive; True if a beat was written."""
    now = time.monotonic()
    if now - _last_beat.get(role, float("-inf")) < BEAT_SECONDS:
        return False
    _last_beat[role] = now
    from orbiter.core.models import Liveness

    try:
        Liveness.objects.update_or_create(role=role, instance=(instance or _instance())[:200],
                                          defaults={"beat_at": timezone.now()})
    except DatabaseError as error:
        log.warning("%s: could not record its liveness beat: %s", role, str(error).strip()[:200])
        connection.close()
        return False
    return True


def report(*, now=None) -> dict[str, dict]:
    """Per role: how many processes beat within ORBITER_LIVENESS_STALE_SECONDS, the age of
    the latest beat, and a state: ok (one or more live), stale (seen in the last day, none
    live now) or absent (none seen)."""
    from orbiter.core.models import Liveness

    now = now or timezone.now()
    Liveness.objects.filter(beat_at__lt=now - FORGET_AFTER).delete()
    stale_after = settings.ORBITER_LIVENESS_STALE_SECONDS
    found = {role: {"state": "absent", "live": 0, "last_beat_s": None} for role in ROLES}
    for role, beat_at in Liveness.objects.filter(role__in=ROLES).values_list("role", "beat_at"):
        entry, age = found[role], max(0.0, (now - beat_at).total_seconds())
        entry["live"] += age < stale_after
        entry["last_beat_s"] = round(age if entry["last_beat_s"] is None else min(age, entry["last_beat_s"]), 1)
        entry["state"] = "ok" if entry["live"] else "stale"
    return found


def _instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
