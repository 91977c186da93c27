"""Rolling back in production through the API: it waits for approval like a deployment there;
an admin may override, giving a reason that the trail keeps."""

import pytest

from orbiter.audit.models import Event
from orbiter.deployments import services
from tests.api.conftest import error_of
from tests.deployments.support import run_to_end

pytestmark = pytest.mark.django_db


@pytest.fixture
def upgraded(fleet, cast, tasks) -> int:
    """production ran 1.0.0-1, then 1.1.0-1: each requested by alice, approved by bob."""
    for version in ("1.0.0-1", "1.1.0-1"):
        deployment = services.deployment_create(application="shop-api", environment="production",
                                                version=version, actor="alice")
        services.deployment_approve(deployment_id=deployment.pk, actor="bob")
        run_to_end(tasks, deployment)
    return deployment.pk


def test_a_deployers_rollback_in_production_waits_for_an_approver(upgraded, client_for):
    rollback = client_for("alice").post(f"/api/v1/deployments/{upgraded}/rollback", {"reason": "500s"},
                                        format="json")

    assert rollback.status_code == 201
    assert rollback.json()["status"] == "awaiting_approval"
    assert rollback.json()["approvals"] == {"needed": 1, "approvers": []}
    approved = client_for("bob").post(f"/api/v1/deployments/{rollback.json()['id']}/approve", {}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "queued"


def test_only_an_admin_may_roll_back_without_the_approval(upgraded, client_for):
    refused = client_for("alice").post(f"/api/v1/deployments/{upgraded}/rollback",
                                       {"reason": "500s", "override_approval": "I am sure"}, format="json")

    assert refused.status_code == 403
    assert error_of(refused)["message"] == (
        "alice may not roll back without approval in production: needs the admin role, has deployer")
    assert not Event.objects.filter(verb="deployment.request", data__rollback_of=upgraded).exists()


def test_an_admins_override_starts_the_rollback_and_is_in_the_trail(upgraded, client_for):
    rollback = client_for("admin").post(f"/api/v1/deployments/{upgraded}/rollback",
                                        {"reason": "500s", "override_approval": "checkout is down"}, format="json")

    assert rollback.status_code == 201 and rollback.json()["status"] == "queued"
    trail = client_for("admin").get(f"/api/v1/deployments/{rollback.json()['id']}/events").json()["results"]
    override = [e for e in trail if e["verb"] == "deployment.approval_override"]
    assert [(e["actor"], e["data"]["reason"]) for e in override] == [("admin", "checkout is down")]
