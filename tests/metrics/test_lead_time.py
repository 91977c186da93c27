"""Lead time of one build: found → deployed in each environment → production."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.catalog.models import Artifact, Environment
from orbiter.deployments import services, states
from orbiter.metrics import hooks
from orbiter.metrics.selectors import lead_time
from tests.deployments.support import run_to_end, run_until_status
from tests.metrics.support import deploy, pipeline

pytestmark = pytest.mark.django_db(transaction=True)


def found_an_hour_ago(version: str) -> Artifact:
    artifact = Artifact.objects.get(version=version.split("-")[0])
    Artifact.objects.filter(pk=artifact.pk).update(found_at=timezone.now() - timedelta(hours=1))
    return Artifact.objects.get(pk=artifact.pk)


def test_a_build_promoted_to_production_has_a_lead_time_and_a_time_per_stage(tasks):
    pipeline()
    artifact = found_an_hour_ago("1.0.0-1")
    for env in ("cert", "test", "production"):
        assert deploy(tasks, "1.0.0-1", env).status == states.SUCCEEDED

    report = lead_time(artifact)

    assert [s["environment"] for s in report["stages"]] == ["cert", "test", "production"]
    after = [s["deployed_after_s"] for s in report["stages"]]
    assert 3600 <= after[0] <= after[1] <= after[2] < 3600 + 60
    assert all(s["status"] == states.SUCCEEDED for s in report["stages"])
    assert report["production"] == "production"
    assert report["lead_time_s"] == after[2]
    assert report["in_production_at"] == report["stages"][2]["deployed_at"]
    assert report["version"] == "1.0.0-1" and report["application"] == "shop-api"


def test_a_build_not_yet_in_production_has_no_lead_time_and_says_where_it_stands(tasks):
    pipeline()
    artifact = Artifact.objects.get(version="1.1.0")
    deploy(tasks, "1.1.0-1", "cert")
    waiting = services.deployment_create(application="shop-api", environment="test", version="1.1.0-1",
                                         actor="alice", strategy={"pause_between_batches": "until-resumed",
                                                                  "batch_size": 1})

    report = lead_time(artifact)

    cert, test, production = report["stages"]
    assert cert["deployed_at"] is not None
    assert (test["deployment_id"], test["deployed_at"]) == (waiting.pk, None)
    assert test["status"] in states.ACTIVE
    assert (production["deployment_id"], production["status"]) == (None, None)
    assert (report["lead_time_s"], report["in_production_at"]) == (None, None)
    services.deployment_cancel(deployment_id=waiting.pk, actor="alice")
    run_to_end(tasks, waiting)


def test_a_build_rolled_back_after_reaching_production_keeps_the_time_it_got_there(tasks):
    pipeline(hosts=1)
    deploy(tasks, "1.0.0-1", "production")
    artifact = Artifact.objects.get(version="1.1.0")
    reached = deploy(tasks, "1.1.0-1", "production")
    services.deployment_rollback(deployment=reached, actor="alice")
    run_until_status(tasks, reached, states.ROLLED_BACK)

    report = lead_time(artifact)

    assert report["stages"][-1]["status"] == states.ROLLED_BACK
    assert report["lead_time_s"] is not None


def test_the_pipeline_app_can_report_when_gates_passed(tasks):
    pipeline(hosts=1)
    artifact = found_an_hour_ago("1.0.0-1")
    cert = Environment.objects.get(name="cert")
    registered = hooks._gates_passed  # the pipelines app's provider: put it back afterwards
    hooks.set_gates_passed(lambda a: {cert.pk: a.found_at + timedelta(minutes=10)} if a.pk == artifact.pk else {})
    try:
        report = lead_time(artifact)
    finally:
        hooks.set_gates_passed(registered)

    assert report["stages"][0]["gates_passed_after_s"] == 600.0
    assert report["stages"][1]["gates_passed_at"] is None
