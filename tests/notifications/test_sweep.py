"""Deliveries are never left pending for good: a retry too far away for the broker to hold
its message is queued by the sweep when due, and a delivery whose message was lost with a
worker (never attempted, or a retry overdue) is picked up by the sweep."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.notifications import services
from orbiter.notifications import tasks as notification_tasks
from orbiter.notifications.models import DELIVERED, PENDING, Delivery
from tests.notifications.support import settle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def delivery(receiver):
    channel = services.channel_create(name="ci-hook", kind="webhook", url=receiver.url,
                                      secret="env:ORBITER_TEST_HOOK_KEY", events=["succeeded"], actor="admin")
    return Delivery.objects.create(channel=channel, event="succeeded", payload={"event": "succeeded"})


def due(**at):
    return services.deliveries_due(now=timezone.now() + timedelta(**at))


def test_a_delivery_whose_message_was_lost_is_queued_by_the_sweep_and_delivered(tasks, delivery, receiver):
    assert due(seconds=0) == []  # just created: its own message is on the way
    assert due(seconds=services.SWEEP_GRACE_S + 1) == [delivery.pk]

    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert notification_tasks.sweep_task() == 1
    (delivered,) = settle(tasks, 1)
    assert (delivered.status, delivered.attempts) == (DELIVERED, 1)
    assert len(receiver.requests) == 1


def test_a_long_retry_is_left_to_the_sweep_and_a_short_one_to_its_message(delivery, settings):
    settings.ORBITER_NOTIFY_BACKOFF_SECONDS = 10  # retries after 10, 20, 40 s...
    held = services._held_retries()
    assert held == 2  # 10 and 20 s fit under the grace; 40 s does not

    soon = timezone.now() + timedelta(seconds=20)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=2, next_attempt_at=soon)
    assert due(seconds=21) == []  # its message is held by the broker
    assert due(seconds=20 + services.SWEEP_GRACE_S + 1) == [delivery.pk]  # ... unless it was lost

    Delivery.objects.filter(pk=delivery.pk).update(attempts=3)
    assert due(seconds=19) == []
    assert due(seconds=21) == [delivery.pk]  # no message waits for it: the sweep queues it on time


def test_finished_deliveries_are_never_swept(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(status=DELIVERED, created_at=timezone.now() - timedelta(hours=1))
    assert due(seconds=0) == []
    Delivery.objects.filter(pk=delivery.pk).update(status=PENDING)
    assert due(seconds=0) == [delivery.pk]
