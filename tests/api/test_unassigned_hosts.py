"""/api/v1/unassigned-hosts: admins for all environments see the agents that enrolled before
anyone listed them, assign, reject, unreject or forget them; nobody else learns they exist."""

import json

import pytest
from django.contrib.auth.models import User

from orbiter.accounts.services import role_grant
from orbiter.audit.models import Event
from orbiter.catalog.agents import fingerprint
from orbiter.catalog.models import Host, UnassignedHost
from orbiter_agent.keys import generate_keypair
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

NEW = "new-01.example.test"
BASE = "/api/v1/unassigned-hosts"


@pytest.fixture(autouse=True)
def world(fleet):
    """The fleet first: the cast's roles name its environments."""


@pytest.fixture
def waiting(cast, client):
    key = generate_keypair()[1]
    client.post("/agents/enroll", json.dumps({"certname": NEW, "public_key": key}), content_type="application/json")
    return key


def test_an_admin_sees_the_waiting_certname_with_its_fingerprint(client_for, waiting):
    response = client_for("admin").get(BASE)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["certname"], row["fingerprint"], row["attempts"], row["rejected_at"]) == (
        NEW, fingerprint(waiting), 1, None)


@pytest.mark.parametrize("who", ["dave", "alice", "bob"])
def test_anyone_but_an_admin_for_all_environments_is_refused_without_seeing_a_certname(client_for, waiting, who):
    response = client_for(who).get(BASE)

    assert response.status_code == 403
    assert NEW not in response.content.decode()
    assert "needs the admin role for all environments" in error_of(response)["message"]


def test_an_admin_of_one_environment_only_is_refused(client_for, waiting, cast):
    User.objects.create_user("erin")
    role_grant(role="admin", user="erin", environment="cert", actor="root")

    assert client_for("erin").post(f"{BASE}/{NEW}/assign", {"environment": "cert"}, format="json").status_code == 403
    assert not Host.objects.filter(certname=NEW).exists()


def test_a_token_limited_to_an_environment_is_refused_even_for_a_superuser(token_client, waiting):
    client = token_client("root", environments=["cert"], max_role="admin")

    response = client.post(f"{BASE}/{NEW}/reject")

    assert response.status_code == 403 and "limited to some environments" in error_of(response)["message"]
    assert UnassignedHost.objects.get(certname=NEW).rejected_at is None


def test_assign_creates_the_host_and_answers_with_its_key_pending(client_for, waiting):
    response = client_for("admin").post(f"{BASE}/{NEW}/assign", {
        "environment": "cert", "applications": ["shop-api"], "labels": {"rack": "b2"}}, format="json")

    assert response.status_code == 201, response.content
    assert response.json() == {"certname": NEW, "environment": "cert", "applications": ["shop-api"],
                               "labels": {"rack": "b2"}, "agent_key": "pending"}
    assert Host.objects.get(certname=NEW).agent_key_pending == waiting
    assert Event.objects.filter(verb="host.create", actor="admin").exists()
    assert client_for("admin").get(BASE).json()["results"] == []


def test_assign_with_the_fingerprint_trusts_the_key(token_client, waiting):
    response = token_client("root", max_role="admin").post(
        f"{BASE}/{NEW}/assign", {"environment": "cert", "fingerprint": fingerprint(waiting)}, format="json")

    assert response.status_code == 201 and response.json()["agent_key"] == "trusted"
    assert Host.objects.get(certname=NEW).agent_public_key == waiting


@pytest.mark.parametrize("body, field", [
    ({"environment": "nowhere"}, "environment"),
    ({"environment": "cert", "applications": ["nope"]}, "applications"),
    ({"environment": "cert", "labels": {"rack": ["b2"]}}, "labels.rack"),
    ({}, "environment"),
])
def test_assign_with_bad_input_names_the_field_and_creates_nothing(client_for, waiting, body, field):
    response = client_for("admin").post(f"{BASE}/{NEW}/assign", body, format="json")

    assert response.status_code in (400, 404)
    assert error_of(response)["field"] == field
    assert not Host.objects.filter(certname=NEW).exists()


def test_reject_then_unreject_then_forget(client_for, waiting):
    admin = client_for("admin")

    rejected = admin.post(f"{BASE}/{NEW}/reject")
    assert rejected.status_code == 200 and rejected.json()["rejected_by"] == "admin"
    assert admin.get(BASE).json()["results"] == []
    assert [row["certname"] for row in admin.get(BASE + "?rejected=true").json()["results"]] == [NEW]
    assert admin.post(f"{BASE}/{NEW}/reject").status_code == 409
    assert admin.post(f"{BASE}/{NEW}/assign", {"environment": "cert"}, format="json").status_code == 409

    assert admin.post(f"{BASE}/{NEW}/unreject").json()["rejected_at"] is None

    assert admin.delete(f"{BASE}/{NEW}").status_code == 204
    assert not UnassignedHost.objects.exists()
    assert admin.delete(f"{BASE}/{NEW}").status_code == 404
    verbs = list(Event.objects.filter(verb__startswith="unassigned.").order_by("id").values_list("verb", flat=True))
    assert verbs == ["unassigned.reject", "unassigned.unreject", "unassigned.forget"]
