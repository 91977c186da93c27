"""The in-memory task queue (tests/conftest.py) with the pipelines' sweeper ticking too, as
Celery beat runs both sweepers in production."""

import pytest


class _BothSweepers:
    name = "sweepers"

    def __init__(self, *sweepers):
        self.sweepers = sweepers

    def run(self):
        for sweeper in self.sweepers:
            sweeper.run()


@pytest.fixture
def flow(tasks, monkeypatch, settings):
    """`tasks`, plus the pipelines' sweeper; blocked runs ask again every 0.1 s."""
    import orbiter.deployments.tasks
    from orbiter.pipelines.tasks import sweep_task

    settings.ORBITER_PIPELINE_RETRY_SECONDS = 0.1
    settings.ORBITER_STALE_SECONDS = 1
    both = _BothSweepers(orbiter.deployments.tasks.sweep_task, sweep_task)
    monkeypatch.setattr(orbiter.deployments.tasks, "sweep_task", both)
    return tasks
