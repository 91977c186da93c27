"""Every periodic task is scheduled in orbiter/celery.py, and the standalone runtime (which
plays Celery beat in-process) sends each of them, the pipelines' sweeper included."""

from django.conf import settings

from orbiter.core.runtime import periodic_entries


def test_the_standalone_runtime_sends_every_sweeper_and_the_repository_poll():
    entries = periodic_entries()

    assert entries["sweep"] == ("orbiter.deployments.sweep", settings.ORBITER_SWEEP_SECONDS)
    assert entries["pipelines-sweep"] == ("orbiter.pipelines.sweep", settings.ORBITER_SWEEP_SECONDS)
    assert entries["poll-repositories"][0] == "orbiter.sources.poll_due"
    assert entries["notifications-sweep"] == ("orbiter.notifications.sweep", 10.0)
    assert not getattr(settings, "CELERY_BEAT_SCHEDULE", None)  # one place for schedules: orbiter/celery.py
