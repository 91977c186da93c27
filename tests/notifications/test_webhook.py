"""Signed JSON webhooks, received by a real HTTP server on loopback and checked with the
verification procedure docs/notifications.md gives receivers."""

import time

import pytest

from orbiter.deployments import services as deployments
from orbiter.deployments import states
from orbiter.notifications import services
from orbiter.notifications.models import DELIVERED
from tests.conftest import build_fleet
from tests.deployments.support import deploy, request, run_to_end
from tests.notifications.support import HOOK_KEY, documented_verify, settle

pytestmark = pytest.mark.django_db(transaction=True)


def hook(url, **options):
    return services.channel_create(name="ci-hook", kind="webhook", url=url, secret="env:ORBITER_TEST_HOOK_KEY",
                                   actor="admin", **options)


def test_a_deployment_is_announced_started_then_succeeded_signed_with_the_channel_key(tasks, receiver):
    build_fleet(hosts=2)
    hook(receiver.url)
    deployment = deploy(tasks, "1.1.0-1", actor="alice")
    deliveries = settle(tasks, 2)

    assert deployment.status == states.SUCCEEDED
    assert [d.status for d in deliveries] == [DELIVERED, DELIVERED]
    assert [r.headers["X-Orbiter-Event"] for r in receiver.requests] == ["started", "succeeded"]
    verify = documented_verify()
    for received, delivery in zip(receiver.requests, deliveries, strict=True):
        assert received.path == "/hooks/orbiter"
        assert received.headers["Content-Type"] == "application/json"
        assert received.headers["X-Orbiter-Delivery"] == str(delivery.uuid)
        assert verify(HOOK_KEY.encode(), received.headers, received.body)
        assert not verify(b"another key", received.headers, received.body)

    started, succeeded = (r.json for r in receiver.requests)
    assert succeeded == {
        "event": "succeeded",
        "deployment_id": deployment.pk,
        "application": "shop-api",
        "environment": "cert",
        "version": "1.1.0-1",
        "status": "succeeded",
        "previous_status": "running",
        "actor": succeeded["actor"],
        "requested_by": "alice",
        "message": deployment.message,
        "url": f"https://orbiter.example/deployments/{deployment.pk}/",
        "timestamp": succeeded["timestamp"],
    }
    assert (started["status"], started["previous_status"]) == ("running", "queued")
    assert started["timestamp"] <= succeeded["timestamp"]


def test_a_tampered_or_replayed_webhook_fails_the_documented_verification(tasks, receiver):
    build_fleet(hosts=1)
    hook(receiver.url, events=["succeeded"])
    deploy(tasks, "1.1.0-1")
    settle(tasks, 1)
    (received,) = receiver.requests
    verify = documented_verify()

    assert verify(HOOK_KEY.encode(), received.headers, received.body)
    assert not verify(HOOK_KEY.encode(), received.headers, received.body.replace(b"cert", b"prod"))
    old = {**received.headers, "X-Orbiter-Timestamp": str(int(time.time()) - 3600)}
    assert not verify(HOOK_KEY.encode(), old, received.body)
    assert not verify(HOOK_KEY.encode(), {}, received.body)


def test_a_deployment_waiting_for_approval_is_announced_as_needing_it(tasks, receiver):
    build_fleet(hosts=1, requires_approval=True)
    hook(receiver.url, events=["needs_approval"])
    deployment = request("1.1.0-1", actor="alice")
    (delivery,) = settle(tasks, 1)

    assert delivery.status == DELIVERED
    body = receiver.requests[0].json
    assert (body["event"], body["status"], body["actor"], body["deployment_id"]) == (
        "needs_approval", "awaiting_approval", "alice", deployment.pk)


def test_channels_hear_only_their_events_applications_and_environments(tasks, make_receiver):
    build_fleet(hosts=1, environment="cert")
    build_fleet(hosts=1, environment="production")
    everything, prod_failures, prod_only, disabled = (make_receiver() for _ in range(4))
    services.channel_create(name="all", kind="webhook", url=everything.url, secret="env:ORBITER_TEST_HOOK_KEY",
                            actor="admin")
    services.channel_create(name="prod-failures", kind="webhook", url=prod_failures.url,
                            secret="env:ORBITER_TEST_HOOK_KEY", events=["failed"], environments=["production"],
                            actor="admin")
    services.channel_create(name="prod", kind="webhook", url=prod_only.url, secret="env:ORBITER_TEST_HOOK_KEY",
                            environments=["production"], actor="admin")
    services.channel_create(name="off", kind="webhook", url=disabled.url, secret="env:ORBITER_TEST_HOOK_KEY",
                            enabled=False, actor="admin")

    deployment = deploy(tasks, "1.1.0-1")  # to cert
    settle(tasks, 2)

    assert deployment.status == states.SUCCEEDED
    assert [r.json["event"] for r in everything.requests] == ["started", "succeeded"]
    assert prod_failures.requests == prod_only.requests == disabled.requests == []


def test_a_cancelled_deployment_is_announced_to_a_channel_that_asked_for_it(tasks, receiver):
    build_fleet(hosts=1, requires_approval=True)
    hook(receiver.url, events=["cancelled"])
    deployment = request("1.1.0-1")
    deployments.deployment_cancel(deployment_id=deployment.pk, actor="bob")
    deployment = run_to_end(tasks, deployment)
    settle(tasks, 1)

    assert [(r.json["event"], r.json["actor"]) for r in receiver.requests] == [("cancelled", "bob")]
