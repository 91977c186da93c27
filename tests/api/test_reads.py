"""What the API shows: applications with the versions each environment runs, environments and
hosts with drift, the plan preview, history with filters and pages, a deployment's hosts and
timeline, and the audit trail with search."""

import pytest
from django.contrib.auth.models import User

from orbiter.catalog.models import Host
from orbiter.deployments.models import Deployment
from tests.api.conftest import error_of
from tests.deployments.support import run_to_end

pytestmark = pytest.mark.django_db

DEPLOY_CERT = {"application": "shop-api", "environment": "cert", "version": "1.1.0-1"}


def deployed(client, tasks, **request) -> dict:
    created = client.post("/api/v1/deployments", {**DEPLOY_CERT, **request}, format="json")
    assert created.status_code == 201, created.json()
    run_to_end(tasks, Deployment.objects.get(pk=created.json()["id"]))
    return client.get(f"/api/v1/deployments/{created.json()['id']}").json()


def test_the_plan_preview_shows_batches_and_load_balancer_actions_and_creates_nothing(fleet, client_for):
    plan = client_for("dave").post("/api/v1/plan", {**DEPLOY_CERT, "strategy": {"batch_size": "1"}},
                                   format="json")

    assert plan.status_code == 200
    assert [b["hosts"] for b in plan.json()["batches"]] == [["shop-api-cert-01"], ["shop-api-cert-02"]]
    assert plan.json()["batches"][0]["lb_actions"] == [
        "drain shop-api-cert/shop-api-cert-01 (simulated), then enable after health check"]
    assert Deployment.objects.count() == 0


def test_a_finished_deployment_shows_its_hosts_timeline_and_the_versions_per_environment(fleet, client_for,
                                                                                       tasks):
    alice = client_for("alice")
    detail = deployed(alice, tasks)

    assert detail["status"] == "succeeded"
    assert detail["progress"] == {"total": 2, "by_status": {"done": 2}}
    assert detail["allowed_actions"] == ["rollback"]
    hosts = alice.get(f"/api/v1/deployments/{detail['id']}/hosts").json()["results"]
    assert [(h["certname"], h["batch"], h["status"]) for h in hosts] == [
        ("shop-api-cert-01", 1, "done"), ("shop-api-cert-02", 2, "done")]
    verbs = [e["verb"] for e in alice.get(f"/api/v1/deployments/{detail['id']}/events").json()["results"]]
    assert verbs[:2] == ["deployment.request", "deployment.accept"] and "deployment.succeed" in verbs
    app = alice.get("/api/v1/applications/shop-api").json()
    assert app["environments"] == [
        {"environment": "cert", "hosts": 2, "versions": [{"version": "1.1.0-1", "hosts": 2}], "drift": 0},
        {"environment": "production", "hosts": 2, "versions": [], "drift": 0}]


def test_hosts_show_drift_when_the_agent_reports_another_version_than_the_pin(fleet, client_for, tasks):
    deployed(client_for("alice"), tasks)
    Host.objects.filter(certname="shop-api-cert-02").update(facts={"packages": {"shop-api": "1.0.0-1"}},
                                                            healthy=False)

    hosts = client_for("dave").get("/api/v1/environments/cert/hosts?healthy=false").json()["results"]

    assert hosts == [{"certname": "shop-api-cert-02", "healthy": False, "last_seen_at": None, "labels": {},
                      "applications": [{"application": "shop-api", "pinned": "1.1.0-1", "installed": "1.0.0-1",
                                        "drift": True}]}]
    assert client_for("dave").get("/api/v1/applications/shop-api").json()["environments"][0]["drift"] == 1
    envs = client_for("dave").get("/api/v1/environments").json()["results"]
    assert [(e["name"], e["hosts"], e["unhealthy_hosts"], e["role"]) for e in envs] == [
        ("cert", 2, 1, "viewer"), ("production", 2, 0, "viewer")]


def test_history_filters_and_pages(fleet, client_for, tasks):
    alice = client_for("alice")
    deployed(alice, tasks, version="1.0.0-1")
    second = deployed(alice, tasks)
    rollback = alice.post(f"/api/v1/deployments/{second['id']}/rollback", {"reason": "bad build"}, format="json")
    assert rollback.status_code == 201 and rollback.json()["is_rollback"] is True
    alice.post("/api/v1/deployments", {**DEPLOY_CERT, "environment": "production"}, format="json")

    everything = alice.get("/api/v1/deployments?page_size=2").json()
    assert everything["count"] == 4 and len(everything["results"]) == 2 and everything["next"]
    waiting = alice.get("/api/v1/deployments?status=awaiting_approval").json()["results"]
    assert [d["environment"] for d in waiting] == ["production"]
    in_cert = alice.get("/api/v1/deployments?environment=cert&requested_by=alice").json()["results"]
    assert [(d["version"], d["is_rollback"]) for d in in_cert] == [
        ("1.0.0-1", True), ("1.1.0-1", False), ("1.0.0-1", False)]
    bad = alice.get("/api/v1/deployments?status=exploded")
    assert bad.status_code == 400 and error_of(bad)["field"] == "status"


@pytest.mark.parametrize("since, expected", [("2000-01-01T00:00:00+23:51", 1), ("9999-12-31T23:00:00-23:00", 400)])
def test_time_filters_take_any_iso_offset(fleet, client_for, tasks, since, expected):
    alice = client_for("alice")
    deployed(alice, tasks, version="1.0.0-1")

    response = alice.get("/api/v1/deployments", {"since": since})

    if expected == 400:  # converted to UTC it is past year 9999
        assert response.status_code == 400 and error_of(response)["field"] == "since"
    else:
        assert response.status_code == 200 and response.json()["count"] == expected


def test_a_user_without_a_role_sees_no_environment(fleet, client_for, settings):
    settings.ORBITER_DEFAULT_ROLE = ""
    User.objects.create_user("eve")

    eve = client_for("eve")
    assert eve.get("/api/v1/environments").json()["count"] == 0
    assert eve.get("/api/v1/environments/cert").status_code == 403
    assert eve.get("/api/v1/events").status_code == 403


def test_the_audit_trail_is_searchable_and_records_the_source_ip(fleet, client_for):
    client_for("admin").post("/api/v1/environments/cert/lock", {"reason": "incident 42"}, format="json",
                             REMOTE_ADDR="10.1.2.3")

    found = client_for("dave").get("/api/v1/events?verb=environment.lock&actor=admin").json()["results"]

    assert [(e["verb"], e["source_ip"], e["data"]) for e in found] == [
        ("environment.lock", "10.1.2.3", {"reason": "incident 42"})]
    assert client_for("dave").get("/api/v1/events?q=nobody-did-this").json()["count"] == 0


def test_me_lists_my_role_per_environment(fleet, client_for):
    assert client_for("bob").get("/api/v1/me").json() == {
        "username": "bob", "is_superuser": False, "token": None,
        "roles": {"cert": "deployer", "production": "approver"}}


@pytest.mark.parametrize("query, field", [("source_ip=not-an-ip", "source_ip"), ("deployment=1.5", "deployment"),
                                          ("since=yesterday", "since")])
def test_a_bad_audit_filter_is_a_400_naming_it(fleet, client_for, query, field):
    response = client_for("dave").get(f"/api/v1/events?{query}")

    assert response.status_code == 400
    assert error_of(response)["field"] == field
