"""Pipelines through the API: the pipeline with its runs, gates and output; "why isn't this
promoting?"; who may approve a promotion, decide or retry a gate, and let a build skip stages."""

import pytest

from orbiter.audit.models import Event
from orbiter.pipelines import states
from tests.api.conftest import error_of
from tests.pipelines.conftest import flow  # noqa: F401  (the fixture: tasks plus the pipelines' sweeper)
from tests.pipelines.support import (
    artifact,
    define,
    fleet,
    gate,
    publish,
    run_of,
    script,
    status,
    wait_for,
    why,
)

pytestmark = pytest.mark.django_db(transaction=True)

SIGNOFF = [{"environment": "cert", "gates": [{"name": "signoff", "kind": "manual", "instructions": "click"}]},
           {"environment": "test"}, {"environment": "production"}]


@pytest.fixture(autouse=True)
def three_stages(transactional_db, tasks):
    """shop-api on 2 hosts in each of cert, test and production (before the cast's role bindings)."""
    fleet()


def _at_manual_gate(flow):  # noqa: F811
    define(stages=SIGNOFF)
    publish("1.1.0-1")
    flow.run_until(lambda: why("1.1.0-1")["reason"] == "manual_gate")


def test_the_pipeline_shows_its_stages_and_each_run_with_gate_states_and_why_it_waits(flow, client_for):  # noqa: F811
    _at_manual_gate(flow)

    response = client_for("dave").get("/api/v1/applications/shop-api/pipeline")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["continuous_delivery"], body["policy"]) == (True, "supersede")
    assert [s["environment"] for s in body["stages"]] == ["cert", "test", "production"]
    assert body["stages"][0]["gates"] == [{"name": "signoff", "kind": "manual", "retries": 0, "timeout_s": 600.0}]
    [run] = body["runs"]
    assert (run["version"], run["status"], run["moving"]) == ("1.1.0-1", "running", False)
    assert run["why"] == "1.1.0-1 waits at cert for a person to decide gate signoff"
    cert = run["stages"][0]
    assert (cert["environment"], cert["status"]) == ("cert", "gating")
    assert [(g["name"], g["status"], g["decidable"]) for g in cert["gates"]] == [("signoff", "waiting", True)]


def test_an_application_without_a_pipeline_answers_404_saying_so(client_for):
    response = client_for("dave").get("/api/v1/applications/shop-api/pipeline")
    assert response.status_code == 404
    assert "shop-api has no pipeline" in error_of(response)["message"]


def test_why_explains_a_build_that_is_not_moving(client_for):
    define(cd=False)
    build = publish("1.2.0-1")

    response = client_for("dave").get(f"/api/v1/artifacts/{build.pk}/why")

    assert response.status_code == 200
    assert response.json()["reason"] == "continuous_delivery_off"
    assert response.json()["sentence"] == (
        "continuous delivery is off for shop-api: 1.2.0-1 enters the pipeline only when someone starts it")
    assert error_of(client_for("dave").get("/api/v1/artifacts/999999/why"))["code"] == "not_found"


def test_a_viewer_may_not_decide_a_gate_a_deployer_may_and_the_build_moves_on(flow, client_for):  # noqa: F811
    _at_manual_gate(flow)
    url = f"/api/v1/gate-runs/{gate('1.1.0-1', 'signoff').pk}/decide"

    refused = client_for("dave").post(url, {"decision": "pass"}, format="json")
    assert refused.status_code == 403 and "needs the deployer role" in error_of(refused)["message"]
    assert gate("1.1.0-1", "signoff").status == states.WAITING

    decided = client_for("alice").post(url, {"decision": "pass", "comment": "looked at it"}, format="json")
    assert decided.status_code == 200, decided.content
    assert gate("1.1.0-1", "signoff").decided_by == "alice"
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)


def test_a_failed_gate_is_retried_by_a_deployer_not_by_a_viewer(flow, client_for, tmp_path):  # noqa: F811
    fixed = tmp_path / "fixed"
    check = script(tmp_path, "smoke", f"""
        import os, sys
        print("smoke: " + ("ok" if os.path.exists({str(fixed)!r}) else "login page answers 500"))
        sys.exit(0 if os.path.exists({str(fixed)!r}) else 1)
    """)
    define(stages=[{"environment": "cert", "gates": [{"name": "smoke", "kind": "command", "command": check}]},
                   {"environment": "production"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.FAILED)
    url = f"/api/v1/pipeline-runs/{run_of('1.1.0-1').pk}/retry"
    shown = client_for("dave").get("/api/v1/applications/shop-api/pipeline").json()["runs"][0]
    assert shown["why"].startswith("1.1.0-1 is stopped at cert: gate smoke failed")
    assert shown["stages"][0]["gates"][0]["output"].strip() == "smoke: login page answers 500"

    assert client_for("dave").post(url).status_code == 403
    assert status("1.1.0-1") == states.FAILED

    fixed.touch()
    retried = client_for("alice").post(url)
    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] == states.RUNNING
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)


def test_only_an_approver_of_the_stages_environment_approves_a_promotion(flow, client_for):  # noqa: F811
    define(stages=[{"environment": "cert"}, {"environment": "test"},
                   {"environment": "production", "promotion": "approval"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.AWAITING_APPROVAL)
    url = f"/api/v1/pipeline-runs/{run_of('1.1.0-1').pk}/approve"

    refused = client_for("alice").post(url, {"stage": "production"}, format="json")
    assert refused.status_code == 403
    assert error_of(refused)["message"] == "alice may not approve in production: needs the approver role, has deployer"
    assert status("1.1.0-1") == states.AWAITING_APPROVAL

    wrong = client_for("bob").post(url, {"stage": "test"}, format="json")
    assert wrong.status_code == 403  # bob approves only in production

    approved = client_for("bob").post(url, {"stage": "production"}, format="json")
    assert approved.status_code == 200, approved.content
    assert approved.json()["stages"][2]["approved_by"] == "bob"
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)


def test_a_build_that_skipped_a_stage_is_refused_with_a_clear_error_until_an_admin_overrides(client_for):
    define(cd=False)
    build = publish("1.2.0-1")
    request = {"application": "shop-api", "environment": "production", "version": "1.2.0-1"}

    refused = client_for("alice").post("/api/v1/deployments", request, format="json")
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "stage_not_passed"
    assert error_of(refused)["message"].startswith("1.2.0-1 has not passed stage cert (nor test)")

    url = f"/api/v1/artifacts/{build.pk}/stage-overrides"
    forbidden = client_for("alice").post(url, {"environment": "production", "reason": "hotfix"}, format="json")
    assert forbidden.status_code == 403
    assert "needs the admin role" in error_of(forbidden)["message"]
    no_reason = client_for("admin").post(url, {"environment": "production"}, format="json")
    assert (no_reason.status_code, error_of(no_reason)["field"]) == (400, "reason")
    assert not Event.objects.filter(verb="pipeline.stage_override").exists()

    granted = client_for("admin").post(url, {"environment": "production", "reason": "hotfix for 4711"}, format="json")
    assert granted.status_code == 201, granted.content
    assert (granted.json()["actor"], granted.json()["reason"]) == ("admin", "hotfix for 4711")
    assert Event.objects.get(verb="pipeline.stage_override").actor == "admin"

    accepted = client_for("alice").post("/api/v1/deployments", request, format="json")
    assert accepted.status_code == 201, accepted.content


def test_lead_time_of_a_build_that_reached_production(flow, client_for):  # noqa: F811
    define()
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)

    response = client_for("dave").get(f"/api/v1/artifacts/{artifact('1.1.0-1').pk}/lead-time")

    assert response.status_code == 200
    body = response.json()
    assert [s["environment"] for s in body["stages"]] == ["cert", "test", "production"]
    assert all(s["deployed_at"] and s["gates_passed_at"] for s in body["stages"])
    assert body["production"] == "production" and body["lead_time_s"] >= 0


def test_dora_aggregates_per_application_and_environment_and_bad_input_is_named(flow, client_for):  # noqa: F811
    define()
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    client = client_for("dave")

    response = client.get("/api/v1/metrics/dora", {"application": "shop-api", "days": 7})

    assert response.status_code == 200
    groups = {g["environment"]: g for g in response.json()["groups"]}
    assert set(groups) == {"cert", "test", "production"}
    assert groups["production"]["deployments"] == 1 and groups["production"]["change_failure_rate"] == 0
    assert error_of(client.get("/api/v1/metrics/dora", {"days": 0}))["field"] == "days"
    assert client.get("/api/v1/metrics/dora", {"application": "nope"}).status_code == 404
