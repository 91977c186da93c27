"""The API tests' cast and fleet: cert (open) and production (protected, two approvers)."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from tests.conftest import build_fleet


@pytest.fixture
def fleet(db):
    """shop-api on 2 hosts in cert and 2 in production (approval by 1 person)."""
    app, cert = build_fleet(hosts=2, environment="cert")
    _, production = build_fleet(hosts=2, environment="production", requires_approval=True)
    return app, cert, production


@pytest.fixture
def cast(db):
    """alice deploys everywhere; bob and carol approve in production; dave only views; root is
    a superuser; admin is an admin of every environment."""
    users = {name: User.objects.create_user(name)  # no password: hashing one costs ~1 s
             for name in ("alice", "bob", "carol", "dave", "admin")}
    users["root"] = User.objects.create_superuser("root")
    role_grant(role="deployer", user="alice", actor="root")
    for name in ("bob", "carol"):
        role_grant(role="deployer", user=name, actor="root")
        role_grant(role="approver", user=name, environment="production", actor="root")
    role_grant(role="admin", user="admin", actor="root")
    return users


@pytest.fixture
def client_for(cast):
    """client_for("alice") → an APIClient signed in as alice (a session, like the browser)."""
    def make(name: str) -> APIClient:
        client = APIClient()
        if name != "anonymous":
            client.force_login(User.objects.get(username=name))
        return client
    return make


@pytest.fixture
def token_client(cast):
    """token_client("alice", environments=["cert"]) → an APIClient using a new API token."""
    def make(name: str, **scope) -> APIClient:
        _, raw = token_create(user=User.objects.get(username=name), name=f"{name}-ci", actor="root", **scope)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client
    return make


def error_of(response) -> dict:
    """The one error shape: {"error": {"code", "message", "field"}}."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "field"} <= set(body["error"]), body
    return body["error"]
