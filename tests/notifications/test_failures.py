"""A receiver that errors, is down or hangs never holds up a deployment: the delivery is
retried, then recorded as failed (what an admin sees) and logged."""

import logging

import pytest

from orbiter.deployments import states
from orbiter.notifications import services
from orbiter.notifications.models import DELIVERED, FAILED
from tests.conftest import build_fleet
from tests.deployments.support import deploy
from tests.notifications.support import closed_port_url, settle

pytestmark = pytest.mark.django_db(transaction=True)


def hook(url, secret="env:ORBITER_TEST_HOOK_KEY"):
    return services.channel_create(name="ci-hook", kind="webhook", url=url, secret=secret, events=["succeeded"],
                                   actor="admin")


def test_a_receiver_answering_500_is_retried_then_the_delivery_is_recorded_failed_and_logged(
        tasks, make_receiver, caplog):
    receiver = make_receiver(default=500)
    build_fleet(hosts=2)
    hook(receiver.url)
    with caplog.at_level(logging.WARNING, logger="orbiter.notifications"):
        deployment = deploy(tasks, "1.1.0-1")
        (delivery,) = settle(tasks, 1)

    assert deployment.status == states.SUCCEEDED
    assert (delivery.status, delivery.attempts, delivery.http_status) == (FAILED, 3, 500)
    assert delivery.error == "HTTP 500: receiver says no"
    assert [a["http_status"] for a in delivery.log] == [500, 500, 500]
    assert len(receiver.requests) == 3
    assert len({r.headers["X-Orbiter-Delivery"] for r in receiver.requests}) == 1  # one delivery, retried
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "ci-hook" in failures[0].getMessage() and "gave up after 3 attempts" in failures[0].getMessage()


def test_a_receiver_that_is_down_fails_the_delivery_not_the_deployment(tasks, caplog):
    build_fleet(hosts=2)
    hook(closed_port_url())
    with caplog.at_level(logging.ERROR, logger="orbiter.notifications"):
        deployment = deploy(tasks, "1.1.0-1")
        (delivery,) = settle(tasks, 1)

    assert deployment.status == states.SUCCEEDED
    assert (delivery.status, delivery.attempts, delivery.http_status) == (FAILED, 3, None)
    assert "cannot reach the receiver" in delivery.error
    assert any("FAILED" in r.getMessage() for r in caplog.records)


def test_a_receiver_that_recovers_gets_the_notification_on_a_later_attempt(tasks, make_receiver):
    receiver = make_receiver(503, 503)
    build_fleet(hosts=1)
    hook(receiver.url)
    deploy(tasks, "1.1.0-1")
    (delivery,) = settle(tasks, 1)

    assert (delivery.status, delivery.attempts, delivery.http_status) == (DELIVERED, 3, 200)
    assert [a["http_status"] for a in delivery.log] == [503, 503, 200]
    assert receiver.requests[0].body == receiver.requests[-1].body  # the same notification each time


@pytest.mark.parametrize("status, error", [
    (404, "HTTP 404: receiver says no"),
    (302, "HTTP 302: receiver says no (redirect to ?; configure the final URL)"),
])
def test_a_receiver_that_refuses_or_redirects_the_request_is_not_retried(tasks, make_receiver, status, error):
    receiver = make_receiver(default=status)
    build_fleet(hosts=1)
    hook(receiver.url)
    deploy(tasks, "1.1.0-1")
    (delivery,) = settle(tasks, 1)

    assert (delivery.status, delivery.attempts, delivery.http_status, delivery.error) == (FAILED, 1, status, error)
    assert len(receiver.requests) == 1


def test_a_receiver_that_never_answers_times_out(tasks, make_receiver, settings):
    settings.ORBITER_NOTIFY_TIMEOUT_SECONDS = 0.3
    settings.ORBITER_NOTIFY_MAX_ATTEMPTS = 2
    receiver = make_receiver(hang=True)
    build_fleet(hosts=1)
    hook(receiver.url)
    deployment = deploy(tasks, "1.1.0-1")
    (delivery,) = settle(tasks, 1)

    assert deployment.status == states.SUCCEEDED
    assert (delivery.status, delivery.attempts) == (FAILED, 2)
    assert "0.3s" in delivery.error


def test_a_missing_secret_fails_at_once_naming_the_variable(tasks, receiver, monkeypatch):
    monkeypatch.delenv("ORBITER_TEST_HOOK_KEY")
    build_fleet(hosts=1)
    hook(receiver.url)
    deployment = deploy(tasks, "1.1.0-1")
    (delivery,) = settle(tasks, 1)

    assert deployment.status == states.SUCCEEDED
    assert (delivery.status, delivery.attempts) == (FAILED, 1)
    assert delivery.error == "secret env:ORBITER_TEST_HOOK_KEY: environment variable ORBITER_TEST_HOOK_KEY is not set"
    assert receiver.requests == []


def test_when_the_queue_cannot_take_the_notification_the_deployment_still_succeeds(tasks, receiver, caplog,
                                                                                     monkeypatch):
    from kombu.exceptions import OperationalError

    from orbiter.notifications.tasks import fan_out_task

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(fan_out_task, "apply_async", broker_down)
    build_fleet(hosts=2)
    hook(receiver.url)
    with caplog.at_level(logging.ERROR, logger="orbiter.notifications"):
        deployment = deploy(tasks, "1.1.0-1")

    assert deployment.status == states.SUCCEEDED
    assert any("could not queue the notifications" in r.getMessage() for r in caplog.records)
