"""Environments and hosts: protection, health, last seen, drift, locks with reason and
author; lock and unlock for admins only."""

from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.catalog.models import Environment, FreezeWindow, Host
from tests.web.conftest import client_for, post
from tests.web.support import deploy, text


def test_it_lists_environments_with_protection_and_host_health(fleet, cast):
    Host.objects.filter(certname="shop-api-production-02").update(healthy=False)
    page = text(client_for("viola").get("/environments/"))
    assert "cert viewer none 2 open" in page
    assert "production viewer approval by a second person 2 (1 unhealthy)" in page


def test_it_shows_an_open_freeze_window(fleet, cast):
    now = timezone.now()
    FreezeWindow.objects.create(environment=Environment.objects.get(name="production"), reason="black friday",
                                starts_at=now - timezone.timedelta(hours=1), ends_at=now + timezone.timedelta(hours=1))
    page = text(client_for("viola").get("/environments/"))
    assert "frozen until" in page and "black friday" in page


def test_the_hosts_page_shows_health_last_seen_and_drift(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.1.0-1")
    seen = timezone.now()
    Host.objects.filter(certname="shop-api-cert-01").update(
        facts={"packages": {"shop-api": "1.0.0-1"}}, last_seen_at=seen, healthy=False)
    page = text(client_for("viola").get("/environments/cert/"))
    assert "2 hosts, 1 with drift" in page
    assert f"shop-api-cert-01 unhealthy {seen:%Y-%m-%d %H:%M:%S} shop-api 1.1.0-1 1.0.0-1 drift" in page
    assert "shop-api-cert-02 healthy never shop-api 1.1.0-1 not reported" in page


def test_an_admin_locks_with_a_reason_and_unlocks(fleet, cast):
    browser = client_for("ada")
    assert ">Lock</button>" in browser.get("/environments/").content.decode()
    response = post(browser, "/environments/production/lock", {"reason": "database migration"})
    assert response["Location"] == "/environments/"
    page = text(browser.get("/environments/"))
    assert "locked by ada" in page and "database migration" in page
    assert Environment.objects.get(name="production").lock_reason == "database migration"
    post(browser, "/environments/production/unlock")
    assert not Environment.objects.get(name="production").is_locked
    assert [e.verb for e in Event.objects.filter(object_type="environment", verb__startswith="environment.lock")] \
        == ["environment.lock"]


def test_a_lock_needs_a_reason(fleet, cast):
    browser = client_for("ada")
    post(browser, "/environments/production/lock", {"reason": "  "})
    assert not Environment.objects.get(name="production").is_locked
    assert "reason: say why the environment is locked" in text(browser.get("/environments/"))


def test_a_deployer_may_not_lock_and_sees_no_lock_form(fleet, cast):
    browser = client_for("dora")
    assert ">Lock</button>" not in browser.get("/environments/").content.decode()
    response = post(browser, "/environments/production/lock", {"reason": "mine"})
    assert response.status_code == 403
    assert "dora may not lock in production: needs the admin role, has deployer" in text(response)
    assert not Environment.objects.get(name="production").is_locked


def test_a_deployer_may_not_unlock(fleet, cast):
    post(client_for("ada"), "/environments/production/lock", {"reason": "incident"})
    assert post(client_for("dora"), "/environments/production/unlock").status_code == 403
    assert Environment.objects.get(name="production").lock_reason == "incident"


def test_a_locked_environment_refuses_deployments_with_reason_and_author(fleet, cast):
    post(client_for("ada"), "/environments/cert/lock", {"reason": "incident 42"})
    page = text(post(client_for("dora"), "/deploy/preview",
                     {"application": "shop-api", "version": "1.0.0-1", "environment": "cert"}))
    assert "Refused (environment_locked): cert is locked by ada: incident 42" in page


def test_an_environment_without_view_role_is_forbidden(fleet, cast, settings):
    settings.ORBITER_DEFAULT_ROLE = ""
    assert client_for("viola").get("/environments/cert/").status_code == 403
