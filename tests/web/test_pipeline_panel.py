"""The application page's pipeline: each build's state per stage, its gates with their output,
why a build is not moving, lead time, and the buttons each role gets (approve, retry, decide)."""

from orbiter.audit.models import Event
from orbiter.pipelines import services, states
from orbiter.pipelines.models import PipelineRun
from tests.pipelines.conftest import flow  # noqa: F401  (the fixture: tasks plus the pipelines' sweeper)
from tests.pipelines.support import gate, publish, script, status, wait_for, why
from tests.web.conftest import client_for, post
from tests.web.support import text

PAGE = "/applications/shop-api/"


def _define(stages):
    services.pipeline_apply(spec={"application": "shop-api", "stages": stages}, actor="ada")


def test_a_waiting_manual_gate_is_explained_and_only_a_deployer_may_decide_it(fleet, cast, flow):  # noqa: F811
    _define([{"environment": "cert", "gates": [{"name": "signoff", "kind": "manual"}]},
             {"environment": "production", "promotion": "approval"}])
    publish("1.2.0-1")
    flow.run_until(lambda: why("1.2.0-1")["reason"] == "manual_gate")

    seen = text(client_for("viola").get(PAGE))
    assert "Why isn't 1.2.0-1 promoting? 1.2.0-1 waits at cert for a person to decide gate signoff" in seen
    assert "Continuous delivery on" in seen and "cert — gates signoff → production (approval)" in seen
    assert "Pass signoff" not in seen
    assert "Pass signoff" in text(client_for("dora").get(PAGE))

    refused = post(client_for("viola"), f"/gate-runs/{gate('1.2.0-1', 'signoff').pk}/decide", {"decision": "pass"})
    assert refused.status_code == 403 and gate("1.2.0-1", "signoff").status == states.WAITING

    decided = post(client_for("dora"), f"/gate-runs/{gate('1.2.0-1', 'signoff').pk}/decide",
                   {"decision": "pass", "comment": "checked by hand", "next": PAGE})
    assert decided.status_code == 302 and decided.url == PAGE
    assert gate("1.2.0-1", "signoff").decided_by == "dora"
    wait_for(flow, "1.2.0-1", states.AWAITING_APPROVAL)
    assert "passed by dora: checked by hand" in text(client_for("viola").get(PAGE))


def test_only_an_approver_gets_the_approve_button_and_the_build_then_reaches_production(fleet, cast, flow):  # noqa: F811
    _define([{"environment": "cert"}, {"environment": "production", "promotion": "approval"}])
    publish("1.2.0-1")
    wait_for(flow, "1.2.0-1", states.AWAITING_APPROVAL)
    run_id = PipelineRun.objects.get(artifact__version="1.2.0").pk

    assert "Approve promotion to production" not in text(client_for("dora").get(PAGE))
    assert "waits for a person to approve its promotion to production" in text(client_for("dora").get(PAGE))
    assert "Approve promotion to production" in text(client_for("april").get(PAGE))
    assert post(client_for("dora"), f"/pipeline-runs/{run_id}/approve", {"stage": "production"}).status_code == 403
    assert status("1.2.0-1") == states.AWAITING_APPROVAL

    approved = post(client_for("april"), f"/pipeline-runs/{run_id}/approve", {"stage": "production"})
    assert approved.status_code == 302
    wait_for(flow, "1.2.0-1", states.SUCCEEDED)
    page = text(client_for("viola").get(PAGE))
    assert "approved by april" in page
    assert "not in production" not in page  # the lead time is shown instead


def test_a_failed_gate_shows_its_output_and_a_deployer_may_retry_the_run(fleet, cast, flow, tmp_path):  # noqa: F811
    failing = script(tmp_path, "smoke", """
        import sys
        print("checkout page: 500 Internal Server Error")
        sys.exit(1)
    """)
    _define([{"environment": "cert", "gates": [{"name": "smoke", "kind": "command", "command": failing}]},
             {"environment": "production"}])
    publish("1.2.0-1")
    wait_for(flow, "1.2.0-1", states.FAILED)

    page = text(client_for("viola").get(PAGE))
    assert "Why isn't 1.2.0-1 promoting? 1.2.0-1 is stopped at cert: gate smoke failed" in page
    assert "checkout page: 500 Internal Server Error" in page  # the gate's output, unfolded
    assert "Retry 1.2.0-1" not in page
    assert "Retry 1.2.0-1" in text(client_for("dora").get(PAGE))

    run_id = PipelineRun.objects.get(artifact__version="1.2.0").pk
    assert post(client_for("viola"), f"/pipeline-runs/{run_id}/retry").status_code == 403
    assert not Event.objects.filter(verb="pipeline.run.retry").exists()
    assert post(client_for("dora"), f"/pipeline-runs/{run_id}/retry").status_code == 302
    assert Event.objects.get(verb="pipeline.run.retry").actor == "dora"
    wait_for(flow, "1.2.0-1", states.FAILED)  # the gate ran again (and fails again: nothing was fixed)
