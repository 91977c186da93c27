"""Four eyes: a protected environment's deployment waits until enough distinct people other
than the requester approved it; each approval is recorded; the inbox shows what awaits you."""

import pytest

from orbiter.accounts.models import DeploymentApproval
from orbiter.audit.models import Event
from orbiter.catalog.models import Environment
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def request_production(client) -> dict:
    response = client.post("/api/v1/deployments", {"application": "shop-api", "environment": "production",
                                                   "version": "1.1.0-1"}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_protected_deployment_waits_for_approval_and_one_approval_queues_it(fleet, client_for):
    deployment = request_production(client_for("alice"))
    assert deployment["status"] == "awaiting_approval"
    assert deployment["approvals"] == {"needed": 1, "approvers": []}

    approved = client_for("bob").post(f"/api/v1/deployments/{deployment['id']}/approve",
                                      {"comment": "looks good"}, format="json")

    assert approved.status_code == 200
    assert approved.json()["status"] == "queued"
    assert approved.json()["approvals"] == {"needed": 1, "approvers": ["bob"]}
    [approval] = DeploymentApproval.objects.all()
    assert (approval.approver_name, approval.approver.username, approval.comment) == ("bob", "bob", "looks good")


def test_the_requester_cannot_approve_their_own_request_even_as_an_approver(fleet, client_for):
    deployment = request_production(client_for("bob"))

    refused = client_for("bob").post(f"/api/v1/deployments/{deployment['id']}/approve", {}, format="json")

    assert refused.status_code == 403
    assert error_of(refused)["message"] == (
        f"bob requested deployment #{deployment['id']} and cannot approve it; ask someone else")
    assert client_for("bob").get(f"/api/v1/deployments/{deployment['id']}").json()["status"] == "awaiting_approval"


def test_with_two_approvals_needed_it_waits_for_a_second_distinct_person(fleet, client_for):
    Environment.objects.filter(name="production").update(min_approvals=2)
    deployment = request_production(client_for("alice"))
    url = f"/api/v1/deployments/{deployment['id']}"

    first = client_for("bob").post(f"{url}/approve", {}, format="json")
    assert first.json()["status"] == "awaiting_approval"
    assert first.json()["message"] == "1 of 2 approvals (bob); waiting for 1 more"
    again = client_for("bob").post(f"{url}/approve", {}, format="json")
    assert again.status_code == 409
    assert error_of(again)["message"] == f"bob already approved deployment #{deployment['id']}"

    second = client_for("carol").post(f"{url}/approve", {}, format="json")

    assert second.json()["status"] == "queued"
    assert second.json()["approvals"] == {"needed": 2, "approvers": ["bob", "carol"]}
    assert list(Event.objects.filter(verb="deployment.approval").values_list("actor", "data__approvals")) == [
        ("bob", 1), ("carol", 2)]


def test_a_reject_ends_the_request(fleet, client_for):
    deployment = request_production(client_for("alice"))

    rejected = client_for("carol").post(f"/api/v1/deployments/{deployment['id']}/reject",
                                        {"reason": "not during the sale"}, format="json")

    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["message"] == "rejected by carol: not during the sale"


def test_the_inbox_lists_what_awaits_my_approval_but_not_my_own_or_already_approved(fleet, client_for):
    Environment.objects.filter(name="production").update(min_approvals=2)
    mine = request_production(client_for("bob"))
    client_for("alice").post(f"/api/v1/deployments/{mine['id']}/cancel", {}, format="json")
    theirs = request_production(client_for("alice"))

    bob_inbox = client_for("bob").get("/api/v1/approvals").json()
    assert [d["id"] for d in bob_inbox["results"]] == [theirs["id"]]
    assert bob_inbox["results"][0]["approvals"] == {"needed": 2, "approvers": []}

    client_for("bob").post(f"/api/v1/deployments/{theirs['id']}/approve", {}, format="json")

    assert client_for("bob").get("/api/v1/approvals").json()["count"] == 0
    carol_inbox = client_for("carol").get("/api/v1/approvals").json()
    assert carol_inbox["results"][0]["approvals"] == {"needed": 2, "approvers": ["bob"]}
    assert client_for("alice").get("/api/v1/approvals").json()["count"] == 0  # alice approves nowhere
