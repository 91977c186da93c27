"""The Celery app and every periodic schedule, in one place."""

import os

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orbiter.settings")

app = Celery("orbiter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_database_connections(sender=None, **kwargs) -> None:
    """Around each task, what Django does around each request: close the connections that
    are broken or older than CONN_MAX_AGE and keep the others. CELERY_DB_REUSE_MAX (settings)
    stops Celery's fixup from closing every one. Eager tasks run inside their caller's
    transaction and are left alone, as the fixup does."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


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
