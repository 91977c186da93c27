"""The Celery app and every periodic schedule, in one place."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orbiter.settings")

app = Celery("orbiter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
