"""Thin Celery tasks: fan a transition out into deliveries, and attempt one delivery."""

from celery import shared_task

from orbiter.notifications import services


@shared_task(name="orbiter.notifications.fan_out")
def fan_out_task(*, deployment_id: int, transition_event: str, before: str, after: str, actor: str,
                 at: str | None, transition: str) -> int:
    from django.utils import timezone

    due = services.notifications_fan_out(
        deployment_id=deployment_id, transition_event=transition_event, before=before, after=after, actor=actor,
        at=at or timezone.now().isoformat(), transition=transition,
    )
    for delivery_id in due:
        deliver_task.delay(delivery_id)
    return len(due)


@shared_task(name="orbiter.notifications.deliver")
def deliver_task(delivery_id: int) -> None:
    countdown = services.delivery_attempt(delivery_id)
    if countdown is not None and countdown <= services.SWEEP_GRACE_S:
        deliver_task.apply_async(args=[delivery_id], countdown=countdown)
    # Later retries are queued by the sweep when their `next_attempt_at` comes.


@shared_task(name="orbiter.notifications.sweep")
def sweep_task() -> int:
    """Queue the deliveries due (a retry's time has come) or lost (their worker died)."""
    due = services.deliveries_due()
    for delivery_id in due:
        deliver_task.delay(delivery_id)
    return len(due)
