"""Standalone runtime: the same Celery tasks, executed by a Celery worker inside this
process (in-memory broker, thread pool), plus the periodic tasks beat would send."""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings

from orbiter.celery import app
from orbiter.core import liveness

log = logging.getLogger("orbiter.runtime")


class InProcessWorker:
    def __init__(self, concurrency: int = 4):
        self.concurrency = concurrency
        self._controller = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "InProcessWorker":
        ready = threading.Event()

        def work():
            self._controller = app.WorkController(
                pool_cls="threads", concurrency=self.concurrency, loglevel="WARNING",
                without_heartbeat=True, without_mingle=True, without_gossip=True,
            )
            ready.set()
            self._controller.start()

        # Read the schedule here, before the worker thread starts: importing the tasks modules
        # from two threads at once could deadlock on the import locks.
        entries = periodic_entries()
        for target, name in ((work, "orbiter-worker"), (lambda: periodic_loop(self._stop, entries), "orbiter-beat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        ready.wait(10)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._controller is not None:
            self._controller.stop(in_sighandler=False)


def periodic_loop(stop: threading.Event, entries: dict[str, tuple[str, float]] | None = None) -> None:
    """What `orbiter scheduler` (Celery beat) would do, until `stop` is set: queue every
    periodic task of the app (orbiter/celery.py) at its interval."""
    entries = periodic_entries() if entries is None else entries
    due = dict.fromkeys(entries, 0.0)
    tick = min([settings.ORBITER_SWEEP_SECONDS, *(seconds for _, seconds in entries.values())])
    while not stop.wait(tick):
        liveness.beat("scheduler")
        now = time.monotonic()
        for name, (task, seconds) in entries.items():
            if now < due[name]:
                continue
            due[name] = now + seconds
            try:
                app.tasks[task].apply_async()
            except Exception:  # keep going; the next tick retries
                log.exception("periodic task %s could not be queued", name)


def periodic_entries() -> dict[str, tuple[str, float]]:
    """name → (task name, interval in seconds) of every periodic task beat would send."""
    app.loader.import_default_modules()  # the apps' tasks modules, as a worker would
    app.finalize()  # runs orbiter/celery.py's on_after_finalize, which adds the schedule (idempotent)
    entries = {}
    for name, entry in (app.conf.beat_schedule or {}).items():
        every = entry["schedule"]
        every = getattr(every, "run_every", every)  # celery.schedules.schedule
        seconds = every.total_seconds() if isinstance(every, timedelta) else float(every)
        entries[name] = (entry["task"], seconds)
    return entries
