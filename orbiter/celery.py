"""The Celery app, every periodic schedule, and the worker processes' hooks, in one place."""

import gc
import logging
import os

from celery import Celery, bootsteps, signals
from celery.beat import PersistentScheduler
from django.db import close_old_connections

from orbiter.core import liveness

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orbiter.settings")

log = logging.getLogger("orbiter.worker")

app = Celery("orbiter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class RecoverLostWakeUps(bootsteps.StartStopStep):
    """Each time the worker (re)connects to the broker, queue a sweep of every active
    deployment. A broker that restarted lost the wake-ups queued in it (Redis keeps no
    messages across a restart here); each deployment that waited for one still has
    `wake_pending` set, so further wake-ups were coalesced into the lost one, and it would
    wait for the staleness sweep (ORBITER_STALE_SECONDS). One advance of each active
    deployment is cheap and safe to run twice."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, consumer) -> None:
        try:
            consumer.app.send_task("orbiter.deployments.sweep", kwargs={"everything": True})
        except Exception:  # the broker went again: the next reconnection queues it
            log.warning("could not queue the sweep after connecting to the broker", exc_info=True)


app.steps["consumer"].add(RecoverLostWakeUps)


@signals.setup_logging.connect
def _keep_django_logging(**kwargs) -> None:
    """Celery sets up no logging of its own (nor redirects stdout): settings.LOGGING,
    applied by Django, formats the worker's and the scheduler's lines like every other
    process's (orbiter/core/logs.py)."""


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_database_connections(sender=None, **kwargs) -> None:
    """Around each task, what Django does around each request: close the connections that
    are broken or older than CONN_MAX_AGE and keep the others. CELERY_DB_REUSE_MAX (settings)
    stops Celery's fixup from closing every one. Eager tasks run inside their caller's
    transaction and are left alone, as the fixup does."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


@signals.task_postrun.connect
def _beat_worker_liveness(sender=None, **kwargs) -> None:
    """A worker is alive when it finishes tasks (the sweeps run every ORBITER_SWEEP_SECONDS,
    so an idle worker too); one beat per worker node name, at most every few seconds."""
    request = getattr(sender, "request", None)
    if request is not None and not getattr(request, "is_eager", False):
        liveness.beat("worker", instance=getattr(request, "hostname", None))


class LivenessScheduler(PersistentScheduler):
    """Celery beat's own scheduler, beating the scheduler's liveness on each tick."""

    def tick(self, *args, **kwargs):
        liveness.beat("scheduler")
        return super().tick(*args, **kwargs)


@signals.worker_init.connect
def _connect_pool_processes_early(**kwargs) -> None:
    # Connected from worker_init so that it runs after Celery's Django fixup, which closes
    # the database connections a new pool process inherits.
    signals.worker_process_init.connect(_prepare_pool_process, weak=False)


def _prepare_pool_process(**kwargs) -> None:
    """Before a new pool process takes its first task: connect to the database (else the
    first round of a deployment waits for the connection; it is then kept between tasks,
    see `_recycle_database_connections`), and move the ~100,000 objects
    of the loaded code (Django, Celery, Orbiter) out of the garbage collector's sight, so
    a full collection during a round scans what the tasks allocate, not all of them
    (10-20 ms per batch of 100 hosts on the rollout benchmark)."""
    from django.db import connection

    gc.freeze()
    try:
        connection.ensure_connection()
    except Exception:  # the first task connects, or reports the error itself
        log.warning("could not connect to the database at worker start", exc_info=True)


@app.on_after_finalize.connect
def _schedule_periodic(sender, **kwargs):
    from django.conf import settings

    sender.add_periodic_task(
        settings.ORBITER_SWEEP_SECONDS, sender.signature("orbiter.deployments.sweep"), name="sweep"
    )
    sender.add_periodic_task(
        settings.ORBITER_SWEEP_SECONDS, sender.signature("orbiter.pipelines.sweep"), name="pipelines-sweep"
    )
    sender.add_periodic_task(
        settings.ORBITER_REPO_TICK_SECONDS, sender.signature("orbiter.sources.poll_due"), name="poll-repositories"
    )
    sender.add_periodic_task(
        settings.ORBITER_INVENTORY_TICK_SECONDS, sender.signature("orbiter.inventory.sync_due"), name="sync-host-sources"
    )
    sender.add_periodic_task(10.0, sender.signature("orbiter.notifications.sweep"), name="notifications-sweep")
