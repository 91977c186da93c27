"""Preflight: a request that makes no sense is refused with a clear message and leaves
nothing behind but its `deployment.refused` Event; the plan preview shows what would happen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Environment, FreezeWindow, Host
from orbiter.common.errors import PreflightRefused, ValidationError
from orbiter.deployments import selectors, services, states
from orbiter.deployments.models import Deployment
from tests.conftest import build_fleet
from tests.deployments.support import (
    deploy,
    deployment_events,
    host,
    request,
    run_to_end,
)


def refused(code: str, *, application="shop-api", environment="cert", version="1.1.0-1", **options):
    """Make the request, expect PreflightRefused with `code`, check that only the refusal's
    Event was written, and return the refusal."""
    deployments = set(Deployment.objects.values_list("pk", flat=True))
    last = Event.objects.order_by("-id").values_list("pk", flat=True).first() or 0

    with pytest.raises(PreflightRefused) as refusal:
        services.deployment_create(
            application=application,
            environment=environment,
            version=version,
            actor="alice",
            **options,
        )

    assert refusal.value.code == code
    assert set(Deployment.objects.values_list("pk", flat=True)) == deployments
    [event] = Event.objects.filter(pk__gt=last)
    assert (event.verb, event.actor) == ("deployment.refused", "alice")
    assert event.data["code"] == code
    assert event.data["message"] == refusal.value.message
    assert (event.data["application"], event.data["environment"], event.data["version"]) == (
        application,
        environment,
        version,
    )
    return refusal.value


@pytest.mark.django_db
def test_it_refuses_an_unknown_application_and_lists_the_known_ones():
    build_fleet()

    refusal = refused("unknown_application", application="shop-apu")

    assert "'shop-apu'" in refusal.message and "known: shop-api" in refusal.message


@pytest.mark.django_db
def test_it_refuses_an_unknown_environment_and_lists_the_known_ones():
    build_fleet()

    refusal = refused("unknown_environment", environment="prod")

    assert "'prod'" in refusal.message and "known: cert" in refusal.message


@pytest.mark.django_db
def test_it_refuses_an_unknown_version_and_lists_the_known_ones():
    build_fleet()

    refusal = refused("unknown_artifact", version="9.9.9-1")

    assert "'9.9.9-1'" in refusal.message and "shop-api" in refusal.message
    assert "1.1.0-1, 1.0.0-1" in refusal.message


@pytest.mark.django_db
def test_it_refuses_a_malformed_version_naming_the_field():
    build_fleet()
    last = Event.objects.latest("id").pk

    with pytest.raises(ValidationError) as refusal:
        request("1.0.0-")

    assert refusal.value.extra["field"] == "version"
    assert not Deployment.objects.exists()
    [event] = Event.objects.filter(pk__gt=last)
    assert (event.verb, event.data["code"]) == ("deployment.refused", "invalid")


@pytest.mark.django_db
def test_it_refuses_a_bad_strategy_naming_the_field():
    build_fleet()
    last = Event.objects.latest("id").pk

    with pytest.raises(ValidationError) as refusal:
        request("1.1.0-1", strategy={"batch_size": "all"})

    assert refusal.value.extra["field"] == "batch_size"
    assert not Deployment.objects.exists()
    assert [e.verb for e in Event.objects.filter(pk__gt=last)] == ["deployment.refused"]


@pytest.mark.django_db
def test_it_refuses_when_the_application_has_no_hosts_in_the_environment():
    build_fleet(hosts=0)

    refusal = refused("no_hosts")

    assert "shop-api" in refusal.message and "cert" in refusal.message


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_version_already_pinned_on_every_host(tasks):
    build_fleet(hosts=2)
    assert deploy(tasks, "1.1.0-1").status == states.SUCCEEDED

    refusal = refused("already_deployed", version="1.1.0-1")

    assert "1.1.0-1" in refusal.message and "all 2 host(s) of cert" in refusal.message


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_downgrade_not_requested_as_a_rollback(tasks):
    build_fleet(hosts=2)
    assert deploy(tasks, "1.1.0-1").status == states.SUCCEEDED

    refusal = refused("downgrade", version="1.0.0-1")

    assert "1.0.0-1 is older than 1.1.0-1" in refusal.message
    assert "rollback" in refusal.message


@pytest.mark.django_db
def test_it_refuses_a_second_deployment_while_one_is_active_naming_who_and_when():
    build_fleet(requires_approval=True)
    first = request("1.0.0-1", actor="bob")

    refusal = refused("deployment_in_progress", version="1.1.0-1")

    assert f"#{first.pk}" in refusal.message
    assert "awaiting_approval" in refusal.message
    assert "requested by bob" in refusal.message
    assert f"{first.created_at:%Y-%m-%d %H:%M} UTC" in refusal.message
    assert "queue" in refusal.message


@pytest.mark.django_db(transaction=True)
def test_with_queue_it_accepts_the_second_and_starts_it_after_the_first_finishes(tasks):
    build_fleet(hosts=2, converge={"duration_s": 0.02})
    first = request("1.0.0-1", actor="bob")

    second = request("1.1.0-1", queue=True)

    assert second.status == states.QUEUED
    assert second.queued_behind_id == first.pk
    assert second.message == f"queued behind #{first.pk}"
    second = run_to_end(tasks, second)
    first = run_to_end(tasks, first)
    assert (first.status, second.status) == (states.SUCCEEDED, states.SUCCEEDED)
    [first_end] = deployment_events(first, "deployment.succeed")
    [second_start] = deployment_events(second, "deployment.start")
    assert second_start.pk > first_end.pk
    assert second.started_at >= first.finished_at


@pytest.mark.django_db
def test_it_refuses_a_locked_environment_naming_who_locked_it_and_why():
    build_fleet()
    Environment.objects.filter(name="cert").update(
        lock_reason="database migration in progress", locked_by="carol", locked_at=timezone.now()
    )

    refusal = refused("environment_locked")

    assert refusal.message == "cert is locked by carol: database migration in progress"


@pytest.mark.django_db
def test_it_refuses_inside_a_freeze_window():
    build_fleet()
    now = timezone.now()
    freeze = FreezeWindow.objects.create(
        environment=Environment.objects.get(name="cert"),
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
        reason="black friday",
    )

    refusal = refused("freeze_window")

    assert "cert is frozen until" in refusal.message
    assert f"{freeze.ends_at:%Y-%m-%d %H:%M} UTC" in refusal.message
    assert "black friday" in refusal.message


@pytest.mark.django_db
def test_it_refuses_inside_a_weekly_freeze_window_saying_when_it_ends():
    build_fleet()
    now = timezone.now()
    start = (now - timedelta(hours=1)).replace(second=0, microsecond=0)
    catalog.freeze_create(
        environment="cert", actor="root", kind="weekly", reason="weekly release freeze",
        weekdays=[FreezeWindow.DAYS[start.weekday()]], start_time=start.time(),
        end_time=(start + timedelta(hours=3)).time(),
    )

    refusal = refused("freeze_window")

    assert f"cert is frozen until {start + timedelta(hours=3):%Y-%m-%d %H:%M} UTC" in refusal.message
    assert "weekly release freeze" in refusal.message and "an admin may override it" in refusal.message


@pytest.mark.django_db
def test_an_admin_override_goes_through_a_freeze_but_a_blank_reason_does_not():
    build_fleet()
    now = timezone.now()
    catalog.freeze_create(environment="cert", actor="root", kind="once", reason="sale",
                          starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))

    refused("freeze_window", override_freeze="  ")
    deployment = request("1.1.0-1", override_freeze="security fix")

    [override] = Event.objects.filter(verb=services.FREEZE_OVERRIDE)
    assert (override.actor, override.deployment_id, override.data["reason"]) == ("alice", deployment.pk,
                                                                                "security fix")


@pytest.mark.django_db
def test_a_freeze_window_that_has_not_started_or_is_over_does_not_refuse():
    build_fleet()
    now = timezone.now()
    env = Environment.objects.get(name="cert")
    FreezeWindow.objects.create(
        environment=env,
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
        reason="later",
    )
    FreezeWindow.objects.create(
        environment=env,
        starts_at=now - timedelta(hours=2),
        ends_at=now - timedelta(hours=1),
        reason="earlier",
    )

    assert request("1.1.0-1").status == states.QUEUED


@pytest.mark.django_db
def test_it_refuses_when_too_few_hosts_are_healthy_to_fill_a_batch():
    build_fleet(hosts=4)
    Host.objects.exclude(certname=host(1)).update(healthy=False)

    refusal = refused("not_enough_healthy_hosts", strategy={"batch_size": "2"})

    assert refusal.message == "only 1 of 4 host(s) of cert are healthy; a batch needs 2"


@pytest.mark.django_db
def test_a_canary_needs_only_one_healthy_host():
    build_fleet(hosts=4)
    Host.objects.exclude(certname=host(1)).update(healthy=False)

    assert request("1.1.0-1", strategy={"batch_size": "2", "canary": True}).status == states.QUEUED


# --- plan preview ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_preview_shows_batches_and_load_balancer_actions_and_writes_nothing():
    build_fleet(hosts=3)
    last = Event.objects.latest("id").pk

    plan = selectors.plan_preview(
        application="shop-api", environment="cert", version="1.1.0-1", strategy={"batch_size": "2"}
    )

    assert (plan.application, plan.environment, plan.version) == ("shop-api", "cert", "1.1.0-1")
    assert [b.hosts for b in plan.batches] == [[host(1), host(2)], [host(3)]]
    assert plan.batches[0].lb_actions == [
        f"drain shop-api-cert/{host(1)} (simulated), then enable after health check",
        f"drain shop-api-cert/{host(2)} (simulated), then enable after health check",
    ]
    assert plan.strategy["batch_size"] == "2"
    assert not plan.needs_approval and plan.waits_for == ""
    assert not Deployment.objects.exists()
    assert not Event.objects.filter(pk__gt=last).exists()


@pytest.mark.django_db
def test_without_history_the_preview_estimates_from_default_step_times_plus_pauses():
    build_fleet(hosts=3)
    per_host = sum(selectors.DEFAULT_STEP_SECONDS.values())

    plan = selectors.plan_preview(
        application="shop-api",
        environment="cert",
        version="1.1.0-1",
        strategy={"batch_size": "1", "pause_between_batches": "30"},
    )

    assert [b.eta_s for b in plan.batches] == [per_host] * 3
    assert plan.eta_s == 3 * per_host + 2 * 30


@pytest.mark.django_db
def test_the_preview_refuses_like_the_request_would():
    build_fleet(hosts=0)

    with pytest.raises(PreflightRefused) as refusal:
        selectors.plan_preview(application="shop-api", environment="cert", version="1.1.0-1")

    assert refusal.value.code == "no_hosts"


@pytest.mark.django_db
def test_the_preview_says_it_needs_approval_and_what_it_would_queue_behind():
    build_fleet(hosts=2, requires_approval=True)
    first = request("1.0.0-1", actor="bob")

    plan = selectors.plan_preview(
        application="shop-api", environment="cert", version="1.1.0-1", queue=True
    )

    assert plan.needs_approval
    assert plan.waits_for == f"queued behind #{first.pk} (awaiting_approval)"


@pytest.mark.django_db(transaction=True)
def test_after_a_deployment_ran_the_preview_estimates_from_its_history(tasks):
    build_fleet(hosts=2)
    assert deploy(tasks, "1.0.0-1").status == states.SUCCEEDED

    plan = selectors.plan_preview(
        application="shop-api", environment="cert", version="1.1.0-1", strategy={"batch_size": "1"}
    )

    # The simulated fleet takes well under a second per host, far below the defaults.
    assert len(plan.batches) == 2
    assert all(0 <= batch.eta_s < 5 for batch in plan.batches)
    assert plan.eta_s == pytest.approx(sum(batch.eta_s for batch in plan.batches), abs=0.1)


# --- the pipeline's promotion guard (docs/pipelines.md) -------------------------------------


def _pipeline_cert_then_production():
    """shop-api on cert and production; a pipeline cert → production with continuous delivery off."""
    from orbiter.pipelines import services as pipelines

    build_fleet(hosts=2, environment="cert")
    build_fleet(hosts=2, environment="production")
    pipelines.pipeline_apply(spec={"application": "shop-api", "continuous_delivery": False,
                                   "stages": [{"environment": "cert"}, {"environment": "production"}]},
                             actor="admin")


@pytest.mark.django_db
def test_it_refuses_an_artifact_that_skipped_a_pipeline_stage_naming_the_stage():
    _pipeline_cert_then_production()

    refusal = refused("stage_not_passed", environment="production", version="1.1.0-1")

    assert refusal.message.startswith("1.1.0-1 has not passed stage cert")
    assert "an admin may override" in refusal.message


@pytest.mark.django_db
def test_the_preview_refuses_an_artifact_that_skipped_a_stage_like_the_request_would():
    _pipeline_cert_then_production()

    with pytest.raises(PreflightRefused) as refusal:
        selectors.plan_preview(application="shop-api", environment="production", version="1.1.0-1")

    assert refusal.value.code == "stage_not_passed"


@pytest.mark.django_db
def test_the_first_stage_takes_any_artifact():
    _pipeline_cert_then_production()

    deployment = services.deployment_create(application="shop-api", environment="cert", version="1.1.0-1",
                                            actor="alice")

    assert deployment.status == states.QUEUED


@pytest.mark.django_db
def test_an_admin_override_lets_the_artifact_skip_the_stage():
    from orbiter.catalog.models import Artifact
    from orbiter.pipelines import services as pipelines

    _pipeline_cert_then_production()
    pipelines.stage_override_grant(artifact=Artifact.objects.get(version="1.1.0", release="1"),
                                   environment="production", actor="ada", reason="hotfix for incident 4711")

    deployment = services.deployment_create(application="shop-api", environment="production",
                                            version="1.1.0-1", actor="alice")

    assert deployment.status == states.QUEUED


@pytest.mark.django_db(transaction=True)
def test_a_rollback_is_not_asked_whether_its_version_passed_the_stages(tasks):
    from orbiter.pipelines import services as pipelines

    build_fleet(hosts=2, environment="cert")
    build_fleet(hosts=2, environment="production")
    for version in ("1.0.0-1", "1.1.0-1"):  # before the pipeline existed
        latest = run_to_end(tasks, services.deployment_create(application="shop-api", environment="production",
                                                             version=version, actor="alice"))
        assert latest.status == states.SUCCEEDED
    pipelines.pipeline_apply(spec={"application": "shop-api", "continuous_delivery": False,
                                   "stages": [{"environment": "cert"}, {"environment": "production"}]},
                             actor="admin")

    rollback = services.deployment_rollback(deployment=latest, actor="alice", reason="bad release")

    assert run_to_end(tasks, rollback).status == states.SUCCEEDED
    assert rollback.artifact.label == "1.0.0-1"
