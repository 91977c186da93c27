"""A three-environment pipeline (cert, test, production) built through the services, and
deployments run to their end with the in-memory task queue."""

from orbiter.deployments import services
from tests.conftest import build_fleet
from tests.deployments.support import run_to_end

VERSIONS = ("1.0.0-1", "1.1.0-1", "1.2.0-1", "1.3.0-1")
ENVIRONMENTS = ("cert", "test", "production")


def pipeline(hosts: int = 2):
    for env in ENVIRONMENTS:
        app, _ = build_fleet(hosts=hosts, environment=env, versions=VERSIONS)
    return app


def deploy(tasks, version: str, environment: str = "cert", **options):
    deployment = services.deployment_create(application="shop-api", environment=environment, version=version,
                                            actor="alice", **options)
    return run_to_end(tasks, deployment)
