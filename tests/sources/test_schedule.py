"""The scheduler (Celery beat) looks for due repositories every ORBITER_REPO_TICK_SECONDS."""

from django.conf import settings

from orbiter.celery import app


def test_beat_polls_due_repositories():
    app.loader.import_default_modules()
    app.finalize()

    entry = app.conf.beat_schedule["poll-repositories"]

    assert entry["task"] == "orbiter.sources.poll_due"
    assert entry["schedule"] == settings.ORBITER_REPO_TICK_SECONDS
    assert "orbiter.sources.poll_due" in app.tasks and "orbiter.sources.poll" in app.tasks
