"""Shared fixtures: a small fleet built through the services, and `tasks`, the in-memory
task queue unit tests run the engine with (integration tests use real Celery on Redis)."""

import heapq
import itertools
import time

import pytest
from celery.app.task import Task

from orbiter.catalog import services as catalog
from orbiter.loadbalancers.models import Pool, PoolMember

pytest_plugins = ["tests.puppetlab"]  # the session-wide puppetserver and puppetdb fixtures


class TaskQueue:
    """Captures apply_async/delay and runs the tasks in this thread, honouring countdowns."""

    def __init__(self):
        self._heap = []
        self._seq = itertools.count()
        self.ran = 0

    def apply_async(self, task, args=None, kwargs=None, countdown=None, **options):
        due = time.monotonic() + (countdown or 0)
        heapq.heappush(self._heap, (due, next(self._seq), task, tuple(args or ()), kwargs or {}))

    def run_until(self, condition, *, timeout: float = 15.0, sweep_every: float = 0.05):
        """Run due tasks (and the sweeper, as beat would) until condition() holds."""
        from orbiter.deployments.tasks import sweep_task

        deadline = time.monotonic() + timeout
        next_sweep = time.monotonic()
        while not condition():
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(f"condition not reached within {timeout}s")
            if self._heap and self._heap[0][0] <= now:
                _, _, task, args, kwargs = heapq.heappop(self._heap)
                self.ran += 1
                task.run(*args, **kwargs)
            elif now >= next_sweep:
                sweep_task.run()
                next_sweep = now + sweep_every
            else:
                time.sleep(0.002)


@pytest.fixture
def tasks(monkeypatch):
    queue = TaskQueue()

    def apply_async(self, args=None, kwargs=None, **options):
        queue.apply_async(self, args, kwargs, **options)

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return queue


def build_fleet(*, hosts: int = 4, environment: str = "cert", application: str = "shop-api",
                converge: dict | None = None, defaults: dict | None = None, health: str = "simulated",
                health_options: dict | None = None, lb_options: dict | None = None,
                requires_approval: bool = False, versions=("1.0.0-1", "1.1.0-1")):
    from orbiter.catalog.models import Application, Environment

    app = Application.objects.filter(name=application).first() or catalog.application_create(
        name=application, package=application, actor="admin",
        rollout_defaults={"retry_backoff_s": 0, "drain_timeout_s": 1, **(defaults or {})},
        converge_driver="simulated",
        converge_options={"duration_s": 0, **(converge or {})},
        health_driver=health, health_options=health_options or {},
    )
    env = Environment.objects.filter(name=environment).first() or catalog.environment_create(
        name=environment, order=Environment.objects.count(), actor="admin", requires_approval=requires_approval
    )
    pool = Pool.objects.create(name=f"{application}-{environment}", application=app, environment=env,
                               driver="simulated", options=lb_options or {})
    for i in range(1, hosts + 1):
        host = catalog.host_create(certname=f"{application}-{environment}-{i:02d}", environment=env,
                                   applications=[app], actor="admin")
        PoolMember.objects.create(pool=pool, host=host, member=host.certname)
    for version in versions:
        catalog.artifact_register(application=app, nevra=f"{application}-{version}.noarch", actor="admin")
    return app, env
