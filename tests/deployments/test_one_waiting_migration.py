"""The migration that adds the one-waiting-deployment index applies to a database where the
old race left duplicates: each later one is queued behind the one before, as the engine ran them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from orbiter.catalog.models import Artifact
from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("deployments", "0002_deployment_app_id_index")]
AFTER = [("deployments", "0004_one_waiting_deployment_per_target")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_duplicates_left_by_the_old_race_are_lined_up_and_the_index_applies():
    app, env = build_fleet(hosts=1, requires_approval=True)
    artifact = Artifact.objects.filter(application=app).first()
    migrate(BEFORE)
    try:
        twins = [Deployment.objects.create(application=app, environment=env, artifact=artifact,
                                           requested_by_name=f"user{n}", status=states.AWAITING_APPROVAL)
                 for n in range(3)]
    finally:
        migrate(AFTER)

    behind = dict(Deployment.objects.values_list("pk", "queued_behind_id"))
    assert behind == {twins[0].pk: None, twins[1].pk: twins[0].pk, twins[2].pk: twins[1].pk}
