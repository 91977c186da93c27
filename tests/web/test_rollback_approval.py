"""Rolling back in production from the deployment page: it waits for an approver; an admin
may roll back without approval, giving a reason the audit trail keeps."""

import pytest

from orbiter.audit.models import Event
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment
from tests.web.conftest import client_for, post
from tests.web.support import deploy, status, text

OVERRIDE = "Roll back without approval"


@pytest.fixture
def upgraded(fleet, cast, tasks) -> Deployment:
    """production ran 1.0.0-1, then 1.1.0-1: each requested by dora, approved by april."""
    for version in ("1.0.0-1", "1.1.0-1"):
        deployment = deploy(tasks, environment="production", version=version, until=None)
        services.deployment_approve(deployment_id=deployment.pk, actor="april")
        tasks.run_until(lambda d=deployment: status(d) == states.SUCCEEDED)
    return deployment


def test_a_deployers_rollback_in_production_waits_for_approval(upgraded):
    response = post(client_for("dora"), f"/deployments/{upgraded.pk}/rollback")

    child = Deployment.objects.get(rollback_of=upgraded)
    assert response["Location"] == f"/deployments/{child.pk}/"
    assert child.status == states.AWAITING_APPROVAL
    assert "Approve" in text(client_for("april").get(f"/deployments/{child.pk}/"))


def test_only_an_admin_is_offered_to_roll_back_without_approval(upgraded):
    assert OVERRIDE in text(client_for("ada").get(f"/deployments/{upgraded.pk}/"))
    assert OVERRIDE not in text(client_for("dora").get(f"/deployments/{upgraded.pk}/"))


def test_an_admins_rollback_without_approval_starts_and_is_recorded(upgraded):
    post(client_for("ada"), f"/deployments/{upgraded.pk}/rollback", {"override_approval": "checkout down"})

    child = Deployment.objects.get(rollback_of=upgraded)
    assert child.status == states.QUEUED
    override = Event.objects.get(verb=services.APPROVAL_OVERRIDE)
    assert (override.actor, override.data["reason"]) == ("ada", "checkout down")


def test_a_deployer_asking_to_skip_the_approval_is_refused_and_nothing_changes(upgraded):
    response = post(client_for("dora"), f"/deployments/{upgraded.pk}/rollback", {"override_approval": "trust me"})

    assert response.status_code == 403
    assert "needs the admin role" in text(response)
    assert status(upgraded) == states.SUCCEEDED
    assert not Deployment.objects.filter(rollback_of=upgraded).exists()
