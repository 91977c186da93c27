"""Standalone runtime: the same Celery tasks, executed by a Celery worker inside this
process (in-memory broker, thread pool), plus the sweeper beat would run."""

import logging
import threading

from django.conf import settings

from orbiter.celery import app

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

        def sweep():
            from orbiter.deployments.tasks import sweep_task

            while not self._stop.wait(settings.ORBITER_SWEEP_SECONDS):
                try:
                    sweep_task.delay()
                except Exception:  # keep sweeping; the next tick retries
                    log.exception("sweep failed")

        for target, name in ((work, "orbiter-worker"), (sweep, "orbiter-sweeper")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        ready.wait(10)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._controller is not None:
            self._controller.stop(in_sighandler=False)
