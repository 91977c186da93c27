"""POST /api/v1/apply and GET /api/v1/export: admins of every environment only (a token
limited to some never), the diff in the answer, a 400 naming the path."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Environment
from tests.fleet.support import example

pytestmark = pytest.mark.django_db

FLEET = "environments: [{name: staging, order: 1}]\napplications: [{name: shop-api, package: shop-api}]\n"


@pytest.fixture
def people():
    """root: superuser; admin: admin of all environments; stage-admin: admin of staging only;
    dora: deployer."""
    users = {name: User.objects.create_user(name) for name in ("admin", "stage-admin", "dora")}
    users["root"] = User.objects.create_superuser("root")
    role_grant(role="admin", user="admin", actor="root")
    role_grant(role="deployer", user="dora", actor="root")
    return users


def signed_in(name: str) -> APIClient:
    client = APIClient()
    client.force_login(User.objects.get(username=name))
    return client


def with_token(name: str, **scope) -> APIClient:
    _, raw = token_create(user=User.objects.get(username=name), name="ci", actor="root", max_role="admin", **scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_an_admin_applies_and_the_answer_is_the_diff(people):
    response = signed_in("admin").post("/api/v1/apply", {"yaml": FLEET}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["applied"] is True
    assert response.json()["summary"] == {"create": 2, "update": 0, "delete": 0}
    assert Event.objects.filter(verb="application.create", actor="admin").count() == 1


def test_a_dry_run_answers_the_diff_and_changes_nothing(people):
    response = signed_in("root").post("/api/v1/apply", {"yaml": example(), "dry_run": True}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["applied"] is False and response.json()["summary"]["create"] == 10
    assert not Environment.objects.exists() and not Event.objects.filter(verb__endswith=".create").exists()


def test_documents_as_json_are_applied_like_yaml(people):
    response = signed_in("admin").post("/api/v1/apply", {"documents": [
        {"environments": [{"name": "staging"}]}, {"applications": [{"name": "cart", "package": "cart"}]}]},
        format="json")

    assert response.status_code == 200, response.json()
    assert Application.objects.filter(name="cart").exists()


def test_a_mistake_is_a_400_naming_the_file_the_document_and_the_path(people):
    response = signed_in("admin").post("/api/v1/apply", {"files": [
        {"name": "envs.yaml", "content": "environments: [{name: staging}]"},
        {"name": "apps.yaml", "content": "---\n---\napplications: [{name: cart, package: cart, rollout: {canary: 2}}]"},
    ]}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == "applications[cart].rollout.canary"
    assert error["message"] == "apps.yaml (document 2): applications[cart].rollout.canary: 2 is not allowed; give " \
                               "true or false"
    assert error["problems"] == [{"source": "apps.yaml", "document": 2, "path": "applications[cart].rollout.canary",
                                  "message": "2 is not allowed; give true or false"}]
    assert not Environment.objects.exists()


@pytest.mark.parametrize("who", ["dora", "stage-admin"])
def test_anyone_but_an_admin_of_every_environment_is_refused(people, who):
    Environment.objects.create(name="staging")
    role_grant(role="admin", user="stage-admin", environment="staging", actor="root")

    response = signed_in(who).post("/api/v1/apply", {"yaml": FLEET, "dry_run": True}, format="json")

    assert response.status_code == 403
    assert "needs the admin role in all environments" in response.json()["error"]["message"]
    assert signed_in(who).get("/api/v1/export").status_code == 403


def test_a_token_limited_to_an_environment_is_refused_even_for_a_superuser(people):
    Environment.objects.create(name="staging")

    response = with_token("root", environments=["staging"]).post("/api/v1/apply", {"yaml": FLEET}, format="json")

    assert response.status_code == 403
    assert "acts on the whole catalog" in response.json()["error"]["message"]
    assert Application.objects.count() == 0


def test_an_unlimited_admin_token_applies(people):
    response = with_token("admin").post("/api/v1/apply", {"yaml": FLEET}, format="json")

    assert response.status_code == 200, response.json()


def test_anonymous_is_refused(people):
    assert APIClient().post("/api/v1/apply", {"yaml": FLEET}, format="json").status_code in (401, 403)


def test_export_answers_the_catalog_as_a_document(people):
    signed_in("admin").post("/api/v1/apply", {"yaml": FLEET}, format="json")

    response = signed_in("admin").get("/api/v1/export", {"kind": ["applications"]})

    assert response.status_code == 200
    assert response.json() == {"applications": [{"name": "shop-api", "package": "shop-api"}]}


def test_a_body_with_two_sources_is_refused(people):
    response = signed_in("admin").post("/api/v1/apply", {"yaml": FLEET, "documents": []}, format="json")

    assert response.status_code == 400
    assert "give exactly one of yaml, files or documents" in response.json()["error"]["message"]
