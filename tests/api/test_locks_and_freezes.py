"""Admins lock environments and manage freeze windows; deployments are refused inside them
unless an admin overrides the freeze with a reason, which is recorded."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.deployments.models import Deployment
from orbiter.deployments.services import FREEZE_OVERRIDE
from tests.api.conftest import error_of
from tests.deployments.support import run_to_end

pytestmark = pytest.mark.django_db

DEPLOY_CERT = {"application": "shop-api", "environment": "cert", "version": "1.1.0-1"}


def now_window(**more) -> dict:
    return {"kind": "once", "reason": "Black Friday", "starts_at": (timezone.now() - timedelta(hours=1)).isoformat(),
            "ends_at": (timezone.now() + timedelta(hours=2)).isoformat(), **more}


def test_a_lock_refuses_deployments_until_unlocked_and_both_are_audited(fleet, client_for):
    admin = client_for("admin")
    locked = admin.post("/api/v1/environments/cert/lock", {"reason": "database migration"}, format="json")
    assert locked.json()["locked_by"] == "admin"

    refused = client_for("alice").post("/api/v1/deployments", DEPLOY_CERT, format="json")
    assert refused.status_code == 409
    assert error_of(refused) == {"code": "environment_locked", "field": None,
                                 "message": "cert is locked by admin: database migration"}

    assert admin.post("/api/v1/environments/cert/unlock").json()["locked"] is False
    assert client_for("alice").post("/api/v1/deployments", DEPLOY_CERT, format="json").status_code == 201
    events = Event.objects.filter(verb__in=["environment.lock", "environment.unlock"]).order_by("id")
    assert [(e.verb, e.actor, e.before, e.after, e.source_ip) for e in events] == [
        ("environment.lock", "admin", "unlocked", "locked", "127.0.0.1"),
        ("environment.unlock", "admin", "locked", "unlocked", "127.0.0.1")]


def test_locking_a_locked_environment_is_a_conflict_naming_the_holder(fleet, client_for):
    client_for("admin").post("/api/v1/environments/cert/lock", {"reason": "migration"}, format="json")

    again = client_for("root").post("/api/v1/environments/cert/lock", {"reason": "mine"}, format="json")

    assert again.status_code == 409
    assert error_of(again)["message"] == "cert is already locked by admin: migration"


def test_a_lock_needs_a_reason(fleet, client_for):
    refused = client_for("admin").post("/api/v1/environments/cert/lock", {"reason": " "}, format="json")

    assert refused.status_code == 400 and error_of(refused)["field"] == "reason"


def test_freeze_windows_are_created_listed_changed_and_deleted_with_before_and_after(fleet, client_for):
    admin = client_for("admin")
    created = admin.post("/api/v1/environments/cert/freezes", now_window(), format="json")
    assert created.status_code == 201, created.json()
    freeze_id = created.json()["id"]
    assert created.json()["open_until"] is not None

    listed = client_for("dave").get("/api/v1/environments/cert/freezes").json()
    assert [f["reason"] for f in listed["results"]] == ["Black Friday"]
    changed = admin.patch(f"/api/v1/freezes/{freeze_id}", {"reason": "Cyber Monday"}, format="json")
    assert changed.json()["reason"] == "Cyber Monday"
    assert admin.delete(f"/api/v1/freezes/{freeze_id}").status_code == 204
    assert client_for("dave").get(f"/api/v1/freezes/{freeze_id}").status_code == 404

    update = Event.objects.get(verb="freeze.update")
    assert (update.data["before"]["reason"], update.data["after"]["reason"]) == ("Black Friday", "Cyber Monday")
    assert Event.objects.get(verb="freeze.delete").data["before"]["reason"] == "Cyber Monday"


def test_a_deployer_cannot_manage_freezes(fleet, client_for):
    refused = client_for("alice").post("/api/v1/environments/cert/freezes", now_window(), format="json")

    assert refused.status_code == 403


@pytest.mark.parametrize("window, field", [
    ({"kind": "weekly", "reason": "weekend", "weekdays": ["sat", "sunday"], "start_time": "00:00",
      "end_time": "00:00"}, "weekdays"),
    ({"kind": "weekly", "reason": "weekend", "weekdays": ["sat"], "start_time": "00:00", "end_time": "00:00",
      "timezone": "Mars/Olympus"}, "timezone"),
    ({"kind": "weekly", "reason": "weekend", "weekdays": ["sat"]}, "start_time"),
    ({"kind": "once", "reason": "x", "starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"},
     "ends_at"),
    ({"kind": "once", "reason": "x"}, "starts_at"),
])
def test_a_bad_freeze_window_is_refused_naming_the_field(fleet, client_for, window, field):
    refused = client_for("admin").post("/api/v1/environments/cert/freezes", window, format="json")

    assert refused.status_code == 400
    assert error_of(refused)["field"].startswith(field)


def test_inside_a_freeze_a_deployment_is_refused_and_an_admin_override_is_recorded(fleet, client_for, tasks):
    client_for("admin").post("/api/v1/environments/cert/freezes", now_window(), format="json")

    refused = client_for("alice").post("/api/v1/deployments", DEPLOY_CERT, format="json")
    assert refused.status_code == 409 and error_of(refused)["code"] == "freeze_window"
    not_admin = client_for("alice").post("/api/v1/deployments", {**DEPLOY_CERT, "override_freeze": "hotfix"},
                                         format="json")
    assert not_admin.status_code == 403

    overridden = client_for("admin").post("/api/v1/deployments", {**DEPLOY_CERT, "override_freeze": "CVE fix"},
                                          format="json")

    assert overridden.status_code == 201
    [event] = Event.objects.filter(verb=FREEZE_OVERRIDE)
    assert (event.actor, event.deployment_id, event.data["reason"], event.data["freeze_reason"]) == (
        "admin", overridden.json()["id"], "CVE fix", "Black Friday")
    finished = run_to_end(tasks, Deployment.objects.get(pk=overridden.json()["id"]))
    assert finished.status == "succeeded"  # the freeze did not hold it back at start either


def test_the_environment_shows_when_its_freeze_ends(fleet, client_for):
    client_for("admin").post("/api/v1/environments/cert/freezes", now_window(), format="json")

    env = client_for("dave").get("/api/v1/environments/cert").json()

    assert env["freeze_reason"] == "Black Friday" and env["frozen_until"]


def test_an_admin_protects_an_environment_and_the_change_is_audited(fleet, client_for):
    changed = client_for("admin").patch("/api/v1/environments/cert", {"requires_approval": True,
                                                                     "min_approvals": 2}, format="json")

    assert (changed.json()["requires_approval"], changed.json()["min_approvals"]) == (True, 2)
    created = client_for("alice").post("/api/v1/deployments", DEPLOY_CERT, format="json").json()
    assert (created["status"], created["message"]) == ("awaiting_approval", "waiting for 2 approvals")
    event = Event.objects.get(verb="environment.protect")
    assert event.data == {"before": {"requires_approval": False, "min_approvals": 1},
                          "after": {"requires_approval": True, "min_approvals": 2}}
    assert client_for("alice").patch("/api/v1/environments/cert", {"min_approvals": 1},
                                     format="json").status_code == 403
