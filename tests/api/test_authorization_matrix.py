"""Each role × each action × an unprotected (cert) and a protected (production) environment:
the API refuses with 403 exactly when the role does not include the action, and the role
holds only in the environment it is bound to."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from orbiter.accounts import roles
from orbiter.accounts.services import role_grant
from orbiter.catalog import services as catalog
from orbiter.deployments import services
from tests.api.conftest import error_of
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db

ALLOWED = {
    roles.VIEWER: {"view"},
    roles.DEPLOYER: {"view", "deploy", "pause", "resume", "cancel", "retry", "rollback"},
    roles.APPROVER: {"view", "deploy", "pause", "resume", "cancel", "retry", "rollback", "approve", "reject"},
    roles.ADMIN: set(roles.ACTIONS),
}


@pytest.fixture
def world(db, settings):
    settings.ORBITER_DEFAULT_ROLE = ""  # no implicit viewer: every right below comes from a binding
    build_fleet(hosts=2, environment="cert")
    build_fleet(hosts=2, environment="production", requires_approval=True)
    User.objects.create_user("requester")
    role_grant(role="deployer", user="requester", actor="root")


def acting(role: str, environment: str) -> APIClient:
    user = User.objects.create_user(f"{role}-{environment}")
    role_grant(role=role, user=user.username, environment=environment, actor="root")
    client = APIClient()
    client.force_login(user)
    return client


def someone_elses_deployment(environment: str) -> int:
    return services.deployment_create(application="shop-api", environment=environment, version="1.1.0-1",
                                      actor="requester").pk


def call(client: APIClient, action: str, environment: str):
    """Make the API request that performs `action` in `environment`."""
    if action == "deploy":
        return client.post("/api/v1/deployments", {"application": "shop-api", "environment": environment,
                                                   "version": "1.1.0-1"}, format="json")
    if action == "override_freeze":
        catalog.freeze_create(environment=environment, kind="once", reason="release party", actor="root",
                              starts_at=timezone.now() - timedelta(hours=1), ends_at=timezone.now() + timedelta(hours=1))
        return client.post("/api/v1/deployments", {"application": "shop-api", "environment": environment,
                                                   "version": "1.1.0-1", "override_freeze": "hotfix"}, format="json")
    if action == "lock":
        return client.post(f"/api/v1/environments/{environment}/lock", {"reason": "incident"}, format="json")
    if action == "protect":
        return client.patch(f"/api/v1/environments/{environment}", {"min_approvals": 1}, format="json")
    if action == "freeze":
        return client.post(f"/api/v1/environments/{environment}/freezes", {
            "kind": "once", "reason": "release party", "starts_at": "2030-11-29T00:00:00Z",
            "ends_at": "2030-11-30T00:00:00Z"}, format="json")
    if action == "unlock":
        catalog.environment_lock(environment=environment, reason="incident", actor="root")
        return client.post(f"/api/v1/environments/{environment}/unlock")
    deployment_id = someone_elses_deployment(environment)
    if action == "view":
        return client.get(f"/api/v1/deployments/{deployment_id}")
    return client.post(f"/api/v1/deployments/{deployment_id}/{action}", {}, format="json")


@pytest.mark.parametrize("environment", ["cert", "production"])
@pytest.mark.parametrize("action", sorted(roles.ACTIONS))
@pytest.mark.parametrize("role", roles.ROLES)
def test_the_api_allows_an_action_exactly_when_the_role_includes_it(world, role, action, environment):
    response = call(acting(role, environment), action, environment)

    if action in ALLOWED[role]:
        assert response.status_code != 403, response.json()
    else:
        assert response.status_code == 403, response.json()
        refused = "deploy" if action == "override_freeze" and role == roles.VIEWER else action
        assert error_of(response) == {
            "code": "forbidden", "field": None, "action": refused, "environment": environment,
            "needed": roles.ACTIONS[refused], "role": role,
            "message": f"{role}-{environment} may not {refused} in {environment}: "
                       f"needs the {roles.ACTIONS[refused]} role, has {role}",
        }


@pytest.mark.parametrize("action", sorted(roles.ACTIONS))
def test_a_role_bound_to_one_environment_gives_nothing_in_another(world, action):
    response = call(acting(roles.ADMIN, "cert"), action, "production")

    assert response.status_code == 403
    assert "production" in error_of(response)["message"]


def test_allowed_actions_happen(world):
    """Spot checks that an allowed call did what it says."""
    approver = acting(roles.APPROVER, "production")
    deployment_id = someone_elses_deployment("production")

    approved = approver.post(f"/api/v1/deployments/{deployment_id}/approve", {}, format="json")

    assert approved.status_code == 200 and approved.json()["status"] == "queued"
    locked = acting(roles.ADMIN, "cert").post("/api/v1/environments/cert/lock", {"reason": "incident"}, format="json")
    assert locked.status_code == 200 and locked.json()["locked"] is True
    assert locked.json()["lock_reason"] == "incident"
