"""A person in a browser: signs in, deploys through the form, watches it run to the end
without reloading; and the two-person approval flow in a protected environment."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from orbiter.accounts.services import role_grant
from tests.conftest import build_fleet

pytestmark = pytest.mark.integration

PASSWORD = "a long browser test password"
SLOW = {"duration_s": 1.0}  # each simulated Puppet run takes a second: progress is visible
FINISH_S = 60_000  # ms: 2 batches of one host each take a few seconds; generous on a busy machine


def person(name: str, role: str) -> None:
    User.objects.create_user(name, password=PASSWORD)
    role_grant(role=role, actor="admin", user=name)


def mark_page(page) -> None:
    """A marker that a reload (or a navigation) would wipe out."""
    page.evaluate("window.__orbiterNoReload = true")


def still_same_page(page) -> bool:
    return page.evaluate("window.__orbiterNoReload === true")


def test_a_deployer_deploys_through_the_form_and_watches_it_succeed(site):
    url, new_page = site
    build_fleet(hosts=2, environment="cert", converge=SLOW)
    person("dora", "deployer")
    page = new_page("dora", PASSWORD)

    page.click("text=New deployment")
    expect(page.locator("#id_version")).to_have_value("1.1.0-1")  # the newest build is preselected
    page.select_option("#id_environment", "cert")
    expect(page.locator("#preview")).to_contain_text("Preflight passed")
    expect(page.locator("#preview")).to_contain_text("shop-api 1.1.0-1 → cert")
    expect(page.locator("#plan")).to_contain_text("shop-api-cert-01")
    expect(page.locator("#preview")).to_contain_text("2 batches")
    page.click("button:has-text('Deploy')")

    page.wait_for_url(f"{url}/deployments/*/")
    mark_page(page)
    status = page.locator("#deployment-status")
    expect(status).to_contain_text("running", timeout=FINISH_S)
    expect(page.locator("#hosts td.step.now").first).to_be_visible(timeout=FINISH_S)  # a step in progress
    expect(status).to_contain_text("succeeded", timeout=FINISH_S)
    expect(page.locator("#progress-text")).to_have_text("2 of 2 hosts done")
    expect(page.locator("#hosts tr[data-status=done]")).to_have_count(2)
    assert still_same_page(page), "the page must update in place, not reload"


def test_a_protected_deployment_runs_after_a_colleague_approves(site):
    url, new_page = site
    build_fleet(hosts=2, environment="production", converge=SLOW, requires_approval=True)
    person("dora", "deployer")
    person("april", "approver")

    requester = new_page("dora", PASSWORD)
    requester.goto("/deploy/")
    expect(requester.locator("#id_version")).to_have_value("1.1.0-1")
    requester.select_option("#id_environment", "production")
    expect(requester.locator("#preview")).to_contain_text("someone other than you must approve")
    requester.fill("#id_confirm", "shop-api")
    requester.click("button:has-text('Request approval')")
    requester.wait_for_url(f"{url}/deployments/*/")
    mark_page(requester)
    expect(requester.locator("#deployment-status")).to_contain_text("awaiting approval")
    expect(requester.locator("button:has-text('Approve')")).to_have_count(0)  # not for the requester

    approver = new_page("april", PASSWORD)
    approver.click("text=Approvals")
    expect(approver.locator("#approvals")).to_contain_text("dora")
    approver.click("#approvals button:has-text('Approve')")
    expect(approver.locator("body")).to_contain_text("Nothing waits for your approval")

    expect(requester.locator("#deployment-status")).to_contain_text("succeeded", timeout=FINISH_S)
    expect(requester.locator("#progress-text")).to_have_text("2 of 2 hosts done")
    expect(requester.locator("#timeline")).to_contain_text("deployment.approve")
    assert still_same_page(requester), "the requester's page must update in place, not reload"
