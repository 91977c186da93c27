"""Protected environments from a terminal: the request waits for someone else's approval;
a rejection or an impatient --timeout reaches the requester as an exit code."""

import json

import pytest

from orbiter.deployments.models import Deployment
from tests.cli.support import created_id

pytestmark = pytest.mark.usefixtures("tasks")  # the engine is not needed: nothing runs


def test_the_request_exits_awaiting_approval_and_the_requester_cannot_approve(orbiter, tokens):
    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production", "--yes", token=tokens["alice"])

    assert result.code == 0, result.err
    deployment_id = created_id(result.out)
    assert result.out == (f"deployment #{deployment_id} awaiting approval: shop-api 1.1.0-1 to production; "
                          f"someone other than alice approves it with: orbiter approve {deployment_id}\n")
    own = orbiter("approve", str(deployment_id), token=tokens["alice"])
    assert own.code == 3
    assert Deployment.objects.get().status == "awaiting_approval"


def test_a_rejection_ends_the_requesters_wait_with_exit_4(orbiter, tokens):
    deployment_id = created_id(orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production", "--yes",
                                       token=tokens["alice"]).out)

    rejected = orbiter("reject", str(deployment_id), "--reason", "not during the sale", token=tokens["bob"])
    waited = orbiter("status", str(deployment_id), "--wait", token=tokens["alice"])

    assert rejected.code == 0, rejected.err
    assert (waited.code, waited.err.splitlines()[-1]) == (4, f"deployment #{deployment_id} rejected by bob: "
                                                             "not during the sale")


def test_waiting_past_the_timeout_exits_6_and_the_deployment_carries_on(orbiter, tokens):
    deployment_id = created_id(orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production", "--yes",
                                       token=tokens["alice"]).out)

    result = orbiter("status", str(deployment_id), "--wait", "--timeout", "1", token=tokens["alice"])

    assert result.code == 6
    assert f"gave up waiting after 1 s; deployment #{deployment_id} is still awaiting_approval" in result.err
    assert Deployment.objects.get().status == "awaiting_approval"


def test_status_of_an_application_shows_its_latest_deployment_as_json(orbiter, tokens):
    deployment_id = created_id(orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production", "--yes",
                                       token=tokens["alice"]).out)

    result = orbiter("status", "shop-api", "--env", "production", "--json", token=tokens["vera"])

    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert (shown["id"], shown["status"], shown["approvals"]) == (
        deployment_id, "awaiting_approval", {"needed": 1, "approvers": []})
