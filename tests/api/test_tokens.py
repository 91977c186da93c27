"""API tokens: shown once, stored hashed, acting as their user with the role capped by
`max_role` and limited to their applications and environments; revoked or expired → 401."""

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from orbiter.accounts.models import ApiToken
from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from orbiter.audit.models import Event
from tests.api.conftest import error_of
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db

DEPLOY_CERT = {"application": "shop-api", "environment": "cert", "version": "1.1.0-1"}
DEPLOY_PRODUCTION = {**DEPLOY_CERT, "environment": "production"}


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_token_created_through_the_api_is_shown_once_and_stored_as_a_hash(fleet, client_for):
    created = client_for("alice").post("/api/v1/tokens", {"name": "jenkins", "environments": ["cert"],
                                                          "applications": ["shop-api"]}, format="json")

    assert created.status_code == 201
    raw = created.json()["token"]
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.values_list()) and raw.startswith(token.prefix)
    listed = client_for("alice").get("/api/v1/tokens").json()["results"]
    assert "token" not in listed[0] and listed[0]["environments"] == ["cert"]
    assert bearer(raw).get("/api/v1/me").json()["token"] == "jenkins"


def test_a_token_scoped_to_cert_deploys_there_but_not_to_production(fleet, token_client):
    ci = token_client("alice", environments=["cert"])

    assert ci.post("/api/v1/deployments", DEPLOY_CERT, format="json").status_code == 201
    refused = ci.post("/api/v1/deployments", DEPLOY_PRODUCTION, format="json")

    assert refused.status_code == 403
    assert error_of(refused)["message"] == "API token 'alice-ci' is not scoped to production"


def test_a_token_scoped_to_another_application_cannot_deploy_this_one(fleet, token_client):
    build_fleet(hosts=1, environment="cert", application="billing")
    ci = token_client("alice", applications=["billing"])

    refused = ci.post("/api/v1/deployments", DEPLOY_CERT, format="json")

    assert refused.status_code == 403
    assert "application shop-api" in error_of(refused)["message"]
    assert [a["name"] for a in ci.get("/api/v1/applications").json()["results"]] == ["billing"]
    assert ci.get("/api/v1/deployments").json()["count"] == 0


def test_max_role_caps_what_the_token_of_an_admin_may_do(fleet, cast):
    _, raw = token_create(user=cast["admin"], name="ci", actor="admin", max_role="deployer")

    refused = bearer(raw).post("/api/v1/environments/cert/lock", {"reason": "x"}, format="json")

    assert refused.status_code == 403
    assert error_of(refused)["message"] == "admin may not lock in cert: needs the admin role, has deployer"


def test_a_token_never_gives_more_than_its_user_has(fleet, cast):
    _, raw = token_create(user=cast["dave"], name="ci", actor="root", max_role="admin")

    assert bearer(raw).post("/api/v1/deployments", DEPLOY_CERT, format="json").status_code == 403


@pytest.mark.parametrize("spoil", ["revoke", "expire", "deactivate_user", "garble"])
def test_a_revoked_expired_or_unknown_token_is_refused_with_401(fleet, cast, spoil):
    token, raw = token_create(user=cast["alice"], name="ci", actor="alice")
    if spoil == "revoke":
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    elif spoil == "expire":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif spoil == "deactivate_user":
        User.objects.filter(pk=cast["alice"].pk).update(is_active=False)
    else:
        raw = raw[:-2] + "xx"

    response = bearer(raw).get("/api/v1/deployments")

    assert response.status_code == 401
    assert error_of(response) == {"code": "unauthenticated", "field": None,
                                  "message": "the API token is unknown, expired or revoked"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoking_through_the_api_stops_the_token_and_is_audited(fleet, client_for, cast):
    token, raw = token_create(user=cast["alice"], name="ci", actor="alice")

    revoked = client_for("alice").delete(f"/api/v1/tokens/{token.pk}")

    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert bearer(raw).get("/api/v1/me").status_code == 401
    assert Event.objects.filter(verb="token.revoke", actor="alice").count() == 1
    assert client_for("bob").delete(f"/api/v1/tokens/{token.pk}").status_code == 404  # not bob's


def test_a_token_cannot_create_tokens(fleet, token_client):
    refused = token_client("alice").post("/api/v1/tokens", {"name": "wider"}, format="json")

    assert refused.status_code == 403
    assert ApiToken.objects.count() == 1


def test_the_tokens_command_prints_the_token_once_and_it_works(fleet, cast, capsys):
    call_command("tokens", "create", "--user", "alice", "--name", "jenkins", "--env", "cert", "--app", "shop-api")
    raw = capsys.readouterr().out.strip()

    assert bearer(raw).post("/api/v1/deployments", DEPLOY_CERT, format="json").status_code == 201
    call_command("tokens", "list")
    assert "jenkins  user=alice  max_role=deployer  apps=shop-api  envs=cert  active" in capsys.readouterr().out


def test_the_roles_command_grants_a_role_that_the_api_then_honours(fleet, cast, client_for):
    call_command("roles", "grant", "approver", "--user", "dave", "--env", "production", "--as", "root")
    deployment = client_for("alice").post("/api/v1/deployments", DEPLOY_PRODUCTION, format="json").json()

    assert client_for("dave").post(f"/api/v1/deployments/{deployment['id']}/approve").json()["status"] == "queued"


def test_group_bindings_reach_api_users(fleet, cast, client_for):
    from django.contrib.auth.models import Group

    Group.objects.create(name="release-managers").user_set.add(cast["dave"])
    role_grant(role="admin", group="release-managers", environment="cert", actor="root")

    assert client_for("dave").post("/api/v1/environments/cert/lock", {"reason": "x"}, format="json").status_code == 200
