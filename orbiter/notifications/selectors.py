"""Reads: which channels hear a deployment's event, and recent deliveries."""

from django.db.models import Count, Max, Q

from orbiter.notifications.models import FAILED, Channel, Delivery


def channels_for(*, application_id: int, environment_id: int, event: str) -> list[Channel]:
    """Enabled channels subscribed to `event` whose filters (if any) include the
    deployment's application and environment. Channels are few: the event list is
    checked here rather than with a JSON query every database would spell differently."""
    candidates = (
        Channel.objects.filter(enabled=True)
        .filter(Q(applications=None) | Q(applications=application_id))
        .filter(Q(environments=None) | Q(environments=environment_id))
        .distinct()
        .order_by("id")
    )
    return [channel for channel in candidates if event in channel.events]


def channel_overview() -> list[Channel]:
    """Every channel with `failed_count` and `last_failure_at` (for list views)."""
    return list(
        Channel.objects.prefetch_related("applications", "environments").annotate(
            failed_count=Count("deliveries", filter=Q(deliveries__status=FAILED)),
            last_failure_at=Max("deliveries__finished_at", filter=Q(deliveries__status=FAILED)),
        )
    )


def deliveries_recent(*, channel: str | None = None, status: str | None = None, limit: int = 50) -> list[Delivery]:
    rows = Delivery.objects.select_related("channel").order_by("-id")
    if channel:
        rows = rows.filter(channel__name=channel)
    if status:
        rows = rows.filter(status=status)
    return list(rows[:limit])
