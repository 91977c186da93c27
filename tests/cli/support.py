"""Helpers the CLI tests share."""

import re

from orbiter.deployments import services
from orbiter.deployments.models import Deployment

APP, ENV = "shop-api", "cert"


def host(n: int, *, environment: str = ENV) -> str:
    return f"{APP}-{environment}-{n:02d}"


def created_id(output: str) -> int:
    """The id in 'deployment #N ...' on the first line."""
    match = re.match(r"deployment #(\d+) ", output)
    assert match, output
    return int(match.group(1))


def request(version: str = "1.1.0-1", *, actor: str = "alice", environment: str = ENV, **options) -> Deployment:
    return services.deployment_create(application=APP, environment=environment, version=version, actor=actor,
                                      **options)


def status_of(deployment_id: int) -> str:
    return Deployment.objects.values_list("status", flat=True).get(pk=deployment_id)


def run_until_status(tasks, deployment_id: int, *wanted: str, timeout: float = 10.0) -> Deployment:
    tasks.run_until(lambda: status_of(deployment_id) in wanted, timeout=timeout)
    return Deployment.objects.get(pk=deployment_id)
