"""A new artifact flows through the stages by itself, gates permitting; the policy decides
what happens to an older one still on its way; locks, freezes and approvals hold it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.catalog.models import Environment, FreezeWindow
from orbiter.deployments import states as dstates
from orbiter.deployments.models import Deployment
from orbiter.pipelines import engine, services, states
from orbiter.pipelines.models import PipelineRun
from tests.pipelines.support import (
    artifact,
    define,
    fleet,
    publish,
    run_for,
    run_of,
    script,
    stage_statuses,
    status,
    versions_pinned,
    wait_for,
    why,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_artifact_reaches_production_through_every_stage_with_no_human_step(flow, tmp_path):
    fleet()
    check = script(tmp_path, "check", """
        import os, sys
        print("checking", os.environ["ORBITER_VERSION"], "in", os.environ["ORBITER_ENVIRONMENT"])
        sys.exit(0 if os.environ["ORBITER_VERSION"] == "1.1.0-1" else 1)
    """)
    define(stages=[{"environment": env, "gates": [{"name": "check", "kind": "command", "command": check}]}
                   for env in ("cert", "test", "production")])

    publish("1.1.0-1")
    run = wait_for(flow, "1.1.0-1", states.SUCCEEDED)

    assert stage_statuses("1.1.0-1") == {"cert": "passed", "test": "passed", "production": "passed"}
    assert {env: versions_pinned(env) for env in ("cert", "test", "production")} == {
        "cert": {"1.1.0-1"}, "test": {"1.1.0-1"}, "production": {"1.1.0-1"}}
    deployments = Deployment.objects.filter(artifact=artifact("1.1.0-1")).order_by("id")
    assert [(d.environment.name, d.requested_by_name, d.status) for d in deployments] == [
        ("cert", "pipeline", "succeeded"), ("test", "pipeline", "succeeded"), ("production", "pipeline", "succeeded")]
    assert why("1.1.0-1")["sentence"] == "1.1.0-1 passed every stage: reached production"
    assert run.finished_at is not None


def test_with_continuous_delivery_off_nothing_moves_and_the_explanation_says_so(flow):
    fleet()
    define(cd=False)
    publish("1.1.0-1")
    run_for(flow, 0.3)

    assert run_of("1.1.0-1") is None
    assert not Deployment.objects.exists()
    assert why("1.1.0-1")["sentence"] == (
        "continuous delivery is off for shop-api: 1.1.0-1 enters the pipeline only when someone starts it")


def test_a_person_can_start_an_artifact_by_hand_when_continuous_delivery_is_off(flow):
    fleet()
    define(cd=False)
    publish("1.1.0-1")
    services.pipeline_run_start(application="shop-api", version="1.1.0-1", actor="alice")
    assert wait_for(flow, "1.1.0-1", states.SUCCEEDED).started_by == "alice"


def test_announcing_the_same_artifact_again_starts_no_second_run(flow):
    fleet()
    define()
    publish("1.1.0-1")
    publish("1.1.0-1")
    engine.run_start(artifact("1.1.0-1"))
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert PipelineRun.objects.count() == 1
    assert Deployment.objects.filter(environment__name="cert").count() == 1


def test_promotion_by_approval_waits_for_a_person_says_so_and_continues_once_approved(flow):
    fleet()
    define(stages=[{"environment": "cert"}, {"environment": "test"},
                   {"environment": "production", "promotion": "approval"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.AWAITING_APPROVAL)
    run_for(flow, 0.2)

    assert versions_pinned("test") == {"1.1.0-1"} and versions_pinned("production") == set()
    assert why("1.1.0-1")["sentence"] == (
        "1.1.0-1 waits for a person to approve its promotion to production "
        "(orbiter pipeline approve shop-api 1.1.0-1 production)")

    services.pipeline_approve(run=run_of("1.1.0-1"), stage="production", actor="carol")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert versions_pinned("production") == {"1.1.0-1"}


def test_approving_the_promotion_also_approves_a_protected_environments_deployment(flow):
    fleet(production_requires_approval=True)
    define(stages=[{"environment": "cert"}, {"environment": "production", "promotion": "approval"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.AWAITING_APPROVAL)
    services.pipeline_approve(run=run_of("1.1.0-1"), stage="production", actor="carol")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    production = Deployment.objects.get(environment__name="production", artifact=artifact("1.1.0-1"))
    assert production.requested_by_name == "pipeline" and production.status == dstates.SUCCEEDED


def test_an_automatic_stage_in_a_protected_environment_waits_for_the_deployments_approval(flow):
    fleet(production_requires_approval=True)
    define(stages=[{"environment": "cert"}, {"environment": "production"}])
    publish("1.1.0-1")
    flow.run_until(lambda: why("1.1.0-1")["reason"] == "deployment_approval")
    deployment = Deployment.objects.get(environment__name="production")
    assert why("1.1.0-1")["sentence"] == (
        f"1.1.0-1's deployment #{deployment.pk} to production waits for approval (orbiter approve {deployment.pk})")


def test_approving_a_stage_that_is_not_waiting_is_refused_naming_what_it_waits_for(flow):
    fleet()
    define(stages=[{"environment": "cert"}, {"environment": "production", "promotion": "approval"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.AWAITING_APPROVAL)
    with pytest.raises(Exception, match="not waiting for approval to enter cert; it waits for: production"):
        services.pipeline_approve(run=run_of("1.1.0-1"), stage="cert", actor="carol")


def test_a_locked_environment_blocks_the_run_which_goes_on_by_itself_once_unlocked(flow):
    fleet()
    define()
    Environment.objects.filter(name="test").update(lock_reason="database migration", locked_by="dba")
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.BLOCKED)
    answer = why("1.1.0-1")
    assert answer["sentence"] == ("1.1.0-1 cannot enter test: test is locked by dba: database migration; "
                                  "it goes on by itself when that ends")
    assert answer["details"]["environment"]["locked_by"] == "dba"
    run_for(flow, 0.3)
    assert versions_pinned("test") == set()

    Environment.objects.filter(name="test").update(lock_reason="", locked_by="")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert versions_pinned("production") == {"1.1.0-1"}


def test_a_freeze_window_blocks_the_run_until_it_ends(flow):
    fleet()
    define()
    now = timezone.now()
    freeze = FreezeWindow.objects.create(environment=Environment.objects.get(name="production"),
                                         starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
                                         reason="year-end close")
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.BLOCKED)
    assert why("1.1.0-1")["reason"] == "freeze"
    assert f"production is frozen until {freeze.ends_at:%Y-%m-%d %H:%M} UTC: year-end close" in why("1.1.0-1")["sentence"]
    run_for(flow, 0.3)
    assert versions_pinned("production") == set()

    FreezeWindow.objects.filter(pk=freeze.pk).update(ends_at=timezone.now())  # it ends (early)
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert versions_pinned("production") == {"1.1.0-1"}


def test_supersede_a_newer_artifact_takes_the_place_of_an_older_one_waiting_on_its_way(flow):
    fleet()
    define(policy="supersede", stages=[{"environment": "cert"}, {"environment": "production", "promotion": "approval"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.AWAITING_APPROVAL)

    publish("1.2.0-1")
    wait_for(flow, "1.2.0-1", states.AWAITING_APPROVAL)

    assert status("1.1.0-1") == states.SUPERSEDED
    assert why("1.1.0-1")["sentence"] == "1.1.0-1 was superseded by the newer 1.2.0-1 and promotes no further"
    assert versions_pinned("cert") == {"1.2.0-1"}


def test_queue_a_newer_artifact_waits_for_the_older_one_to_leave_the_pipeline(flow):
    fleet()
    define(policy="queue", stages=[{"environment": "cert"}, {"environment": "production", "promotion": "approval"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.AWAITING_APPROVAL)
    publish("1.2.0-1")
    flow.run_until(lambda: "queued behind" in (run_of("1.2.0-1").message if run_of("1.2.0-1") else ""))
    older = run_of("1.1.0-1")
    assert why("1.2.0-1")["sentence"] == (
        f"1.2.0-1 is queued behind 1.1.0-1 (run #{older.pk}, awaiting approval) (policy: queue)")
    assert versions_pinned("cert") == {"1.1.0-1"}

    services.pipeline_approve(run=older, stage="production", actor="carol")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    wait_for(flow, "1.2.0-1", states.AWAITING_APPROVAL)
    assert versions_pinned("cert") == {"1.2.0-1"} and versions_pinned("production") == {"1.1.0-1"}


def test_an_artifact_older_than_one_already_in_the_pipeline_is_superseded_at_once(flow):
    fleet()
    define()
    publish("1.2.0-1")
    wait_for(flow, "1.2.0-1", states.SUCCEEDED)
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUPERSEDED)
    assert why("1.1.0-1")["sentence"] == "1.1.0-1 was superseded by the newer 1.2.0-1 and promotes no further"


def test_a_failed_deployment_stops_the_run_and_is_explained(flow):
    app = fleet()
    app.converge_options = {"duration_s": 0, "fail_hosts": ["shop-api-test-01"]}
    app.save(update_fields=["converge_options"])
    define()
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.FAILED)
    answer = why("1.1.0-1")
    assert answer["reason"] == "deployment_failed"
    assert answer["sentence"].startswith("1.1.0-1 is stopped at test: deployment #")
    assert " of 1.1.0-1 to test failed" in answer["sentence"]
    assert versions_pinned("production") == set()


def test_the_lead_time_report_shows_when_each_stages_gates_passed(flow):
    from orbiter.metrics.selectors import lead_time

    fleet()
    define(stages=[{"environment": env, "gates": [{"name": "check", "kind": "command", "command": ["true"]}]}
                   for env in ("cert", "test", "production")])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    stages = lead_time(artifact("1.1.0-1"))["stages"]
    assert [s["environment"] for s in stages] == ["cert", "test", "production"]
    passed = [s["gates_passed_after_s"] for s in stages]
    assert all(p is not None for p in passed) and passed == sorted(passed)
    assert all(s["gates_passed_after_s"] >= s["deployed_after_s"] for s in stages)


def test_too_few_healthy_hosts_blocks_the_run_until_they_recover(flow):
    from orbiter.catalog.models import Host

    fleet()
    define()
    Host.objects.filter(environment__name="test").update(healthy=False)
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.BLOCKED)
    assert why("1.1.0-1")["sentence"] == (
        "1.1.0-1 cannot enter test: only 0 of 2 host(s) of test are healthy; a batch needs 1; "
        "it goes on by itself when that changes")
    Host.objects.filter(environment__name="test").update(healthy=True)
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)


def test_a_cancelled_run_promotes_no_further_and_lets_the_next_queued_one_start(flow):
    fleet()
    define(policy="queue", stages=[{"environment": "cert"}, {"environment": "production", "promotion": "approval"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.AWAITING_APPROVAL)
    publish("1.2.0-1")
    flow.run_until(lambda: run_of("1.2.0-1") is not None)

    services.pipeline_run_cancel(run=run_of("1.1.0-1"), actor="alice", reason="bad build")
    wait_for(flow, "1.2.0-1", states.AWAITING_APPROVAL)
    assert status("1.1.0-1") == states.CANCELLED
    assert why("1.1.0-1")["sentence"] == "1.1.0-1 was taken out of the pipeline: cancelled by alice: bad build"
    assert versions_pinned("production") == set()
