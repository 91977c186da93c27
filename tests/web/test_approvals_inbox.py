"""The approvals inbox: what waits for me, never my own requests."""

from tests.web.conftest import client_for, post
from tests.web.support import deploy, status, text


def test_it_lists_requests_of_others_with_approve_and_reject(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="dora", until=None, comment="release 7")
    page = text(client_for("april").get("/approvals/"))
    assert f"#{waiting.pk} shop-api 1.0.0-1 production dora “release 7”" in page
    assert "Approve Reject" in page


def test_my_own_requests_are_listed_apart_without_buttons(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="april", until=None)
    page = text(client_for("april").get("/approvals/"))
    assert "Nothing waits for your approval" in page
    assert f"Your requests (someone else must approve them) #{waiting.pk}" in page


def test_approving_from_the_inbox_comes_back_to_it(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="dora", until=None)
    browser = client_for("april")
    response = post(browser, f"/deployments/{waiting.pk}/approve", {"next": "/approvals/"})
    assert response["Location"] == "/approvals/"
    assert status(waiting) == "queued"
    assert "Nothing waits for your approval" in text(browser.get("/approvals/"))


def test_a_deployer_is_told_they_cannot_approve(fleet, cast, tasks):
    deploy(tasks, environment="production", version="1.0.0-1", actor="dan", until=None)
    page = text(client_for("dora").get("/approvals/"))
    assert "You do not have the approver role in any environment" in page
    assert "#1 shop-api" not in page
