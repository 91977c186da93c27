"""Writes: channels, and the two steps of a notification — fan a transition out into one
Delivery per interested channel, then attempt each delivery until it is delivered or given up.

A failure to notify never touches the deployment: it is recorded on the Delivery (status,
HTTP status, error, every attempt in `log`) and logged on `orbiter.notifications`.
"""

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from orbiter.audit.services import event_record, field_changes
from orbiter.catalog.models import Application, Environment
from orbiter.common import validators
from orbiter.common.errors import DriverError, NotFound, ValidationError
from orbiter.notifications import events, payloads, secret_refs, selectors
from orbiter.notifications.models import (
    DELIVERED,
    FAILED,
    KINDS,
    PENDING,
    SLACK,
    WEBHOOK,
    Channel,
    Delivery,
)
from orbiter.notifications.senders import SENDERS

log = logging.getLogger("orbiter.notifications")

_MAX_BACKOFF_S = 3600.0


# --- channels ---------------------------------------------------------------------------

def _named(model, field: str, names) -> list:
    names = list(dict.fromkeys(names or []))
    found = {obj.name: obj for obj in model.objects.filter(name__in=names)}
    unknown = [n for n in names if n not in found]
    if unknown:
        available = ", ".join(model.objects.order_by("name").values_list("name", flat=True)) or "none yet"
        raise ValidationError(f"{field}: unknown {', '.join(map(repr, unknown))}; available: {available}", field=field)
    return [found[n] for n in names]


def _validate_events(chosen) -> list[str]:
    chosen = list(dict.fromkeys(chosen)) if chosen else list(events.DEFAULT_EVENTS)
    unknown = [e for e in chosen if e not in events.EVENTS]
    if unknown:
        raise ValidationError(
            f"events: unknown {', '.join(map(repr, unknown))}; allowed: {', '.join(events.EVENTS)}", field="events"
        )
    return chosen


def _validate_target(kind: str, url: str, secret: str, recipients: list[str]) -> None:
    if kind not in KINDS:
        raise ValidationError(f"kind: {kind!r} is unknown; allowed: {', '.join(KINDS)}", field="kind")
    if kind == WEBHOOK:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except DjangoValidationError:
            raise ValidationError(f"url: {url!r} is not an http(s) URL; a webhook needs one", field="url") from None
        if not secret:
            raise ValidationError("secret: a webhook needs its HMAC key's reference (env:NAME or file:/path)",
                                  field="secret")
    elif kind == SLACK:
        if url:
            raise ValidationError(
                "url: a Slack incoming-webhook URL carries its token; give it as secret=env:NAME or file:/path",
                field="url",
            )
        if not secret:
            raise ValidationError("secret: a slack channel needs its webhook URL's reference (env:NAME or file:/path)",
                                  field="secret")
    else:
        if url or secret:
            raise ValidationError("url, secret: an email channel takes recipients only", field="url")
        if not recipients:
            raise ValidationError("recipients: an email channel needs at least one address", field="recipients")
        for address in recipients:
            try:
                validate_email(address)
            except DjangoValidationError:
                raise ValidationError(f"recipients: {address!r} is not an email address", field="recipients") from None
    if secret:
        secret_refs.validate("secret", secret)


def channel_create(*, name: str, kind: str, actor: str, url: str = "", secret: str = "",
                   recipients: list[str] | None = None, events: list[str] | None = None,
                   applications: list[str] | None = None, environments: list[str] | None = None,
                   enabled: bool = True) -> Channel:
    validators.slug("name", name)
    recipients = list(recipients or [])
    _validate_target(kind, url, secret, recipients)
    chosen = _validate_events(events)
    apps = _named(Application, "applications", applications)
    envs = _named(Environment, "environments", environments)
    try:
        with transaction.atomic():
            channel = Channel.objects.create(name=name, kind=kind, url=url, secret=secret, recipients=recipients,
                                             events=chosen, enabled=enabled)
            channel.applications.set(apps)
            channel.environments.set(envs)
            event_record(actor=actor, verb="notification_channel.create", obj=channel,
                         data={"kind": kind, "target": channel.target, "events": chosen, "enabled": enabled})
    except IntegrityError:
        raise ValidationError(f"name: a channel named {name!r} already exists", field="name") from None
    return channel


CHANNEL_FIELDS = ("name", "kind", "url", "secret", "recipients", "events", "applications", "environments", "enabled")


def channel_validate(fields: dict) -> None:
    """What every write of a channel checks (create, update, the admin's form)."""
    unknown = sorted(set(fields) - set(CHANNEL_FIELDS))
    if unknown:
        raise ValidationError(f"{unknown[0]}: not a field of a channel; allowed: {', '.join(CHANNEL_FIELDS)}",
                              field=unknown[0])
    validators.slug("name", fields.get("name"))
    for name in ("recipients", "events"):
        if not isinstance(fields.get(name) or [], list):
            raise ValidationError(f'{name}: give a JSON list, e.g. ["a"]', field=name)
    _validate_target(fields.get("kind"), fields.get("url") or "", fields.get("secret") or "",
                     list(fields.get("recipients") or []))
    _validate_events(fields.get("events"))
    _named(Application, "applications", fields.get("applications"))
    _named(Environment, "environments", fields.get("environments"))


def channel_update(*, name: str, actor: str, **changes) -> Channel:
    """Change a channel (applications and environments by name); one Event with the values
    before and after (the secret is a reference, never the secret), none when nothing changed."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().filter(name=name).first()
        if channel is None:
            raise NotFound(f"no notification channel named {name!r}", field="name")
        before = {field: getattr(channel, field) for field in CHANNEL_FIELDS[:6] + ("enabled",)}
        before["applications"] = sorted(a.name for a in channel.applications.all())
        before["environments"] = sorted(e.name for e in channel.environments.all())
        after = {**before, **changes}
        channel_validate(after)
        after["events"] = _validate_events(after["events"])
        after["applications"], after["environments"] = sorted(after["applications"]), sorted(after["environments"])
        if Channel.objects.filter(name=after["name"]).exclude(pk=channel.pk).exists():
            raise ValidationError(f"name: a channel named {after['name']!r} already exists", field="name")
        diff = field_changes(before, after)
        if not diff["after"]:
            return channel
        Channel.objects.filter(pk=channel.pk).update(
            **{k: v for k, v in after.items() if k not in ("applications", "environments") and before[k] != v})
        channel.applications.set(_named(Application, "applications", after["applications"]))
        channel.environments.set(_named(Environment, "environments", after["environments"]))
        channel.refresh_from_db()
        event_record(actor=actor, verb="notification_channel.update", obj=channel, data=diff)
    return channel


def _channel(name: str) -> Channel:
    channel = Channel.objects.filter(name=name).first()
    if channel is None:
        raise NotFound(f"no notification channel named {name!r}", field="name")
    return channel


def channel_set_enabled(*, name: str, enabled: bool, actor: str) -> Channel:
    channel = _channel(name)
    with transaction.atomic():
        before = "enabled" if channel.enabled else "disabled"
        Channel.objects.filter(pk=channel.pk).update(enabled=enabled)
        channel.enabled = enabled
        event_record(actor=actor, verb="notification_channel.enable" if enabled else "notification_channel.disable",
                     obj=channel, before=before, after="enabled" if enabled else "disabled")
    return channel


def channel_delete(*, name: str, actor: str) -> None:
    channel = _channel(name)
    with transaction.atomic():
        event_record(actor=actor, verb="notification_channel.delete", obj=channel,
                     data={"kind": channel.kind, "target": channel.target})
        channel.delete()


# --- notifications ------------------------------------------------------------------------

def notifications_fan_out(*, deployment_id: int, transition_event: str, before: str, after: str, actor: str,
                          at: str, transition: str) -> list[int]:
    """One Delivery per channel that hears this transition; returns the ids still to send.
    Safe to run twice for the same `transition`: the second run creates nothing."""
    from orbiter.deployments.models import Deployment

    event = events.BY_TRANSITION.get(transition_event)
    if event is None:
        return []
    deployment = (
        Deployment.objects.select_related("application", "environment", "artifact").filter(pk=deployment_id).first()
    )
    if deployment is None:
        return []
    channels = selectors.channels_for(
        application_id=deployment.application_id, environment_id=deployment.environment_id, event=event
    )
    if not channels:
        return []
    payload = payloads.deployment_payload(deployment, event=event, before=before, after=after, actor=actor, at=at)
    due = []
    for channel in channels:
        delivery, _ = Delivery.objects.get_or_create(
            channel=channel, transition=transition,
            defaults={"deployment": deployment, "event": event, "payload": payload},
        )
        if delivery.status == PENDING and delivery.attempts == 0:
            due.append(delivery.pk)
    return due


# A retry further away than this is not held by the broker (Redis would hand a message
# unacknowledged past its visibility timeout to another worker: a duplicate attempt); the
# sweep queues it when it is due. Also the age at which a delivery never attempted, or
# overdue, counts as lost (its message went with a worker that died).
SWEEP_GRACE_S = 30.0


def deliveries_due(*, now=None, limit: int = 200) -> list[int]:
    """The pending deliveries to queue now, oldest first: a retry further away than
    SWEEP_GRACE_S whose time has come (no message waits for it); and, SWEEP_GRACE_S late, a
    retry the broker held or a first attempt whose message was lost with its worker."""
    from django.db.models import Q

    now = now or timezone.now()
    late = now - timedelta(seconds=SWEEP_GRACE_S)
    held = _held_retries()  # after this many attempts the next retry's message is held by the broker
    due = Delivery.objects.filter(status=PENDING).filter(
        Q(next_attempt_at__lte=now, attempts__gt=held)
        | Q(next_attempt_at__lte=late)
        | Q(attempts=0, next_attempt_at__isnull=True, created_at__lte=late)
    )
    return list(due.order_by("created_at").values_list("pk", flat=True)[:limit])


def _held_retries() -> int:
    """The number of attempts up to which the next retry's backoff is short enough for the
    broker to hold its message (the backoff grows with each attempt)."""
    attempts = 0
    while attempts < 64 and _backoff(attempts + 1) <= SWEEP_GRACE_S:
        attempts += 1
    return attempts


def _backoff(attempt: int) -> float:
    return min(settings.ORBITER_NOTIFY_BACKOFF_SECONDS * 2 ** (attempt - 1), _MAX_BACKOFF_S)


def delivery_attempt(delivery_id: int, *, max_attempts: int | None = None,
                     even_if_disabled: bool = False) -> float | None:
    """Send a pending delivery once and record the attempt. Returns the seconds to wait
    before the next attempt, or None when there is none (delivered, given up, not pending,
    or another worker recorded this attempt first)."""
    delivery = Delivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != PENDING:
        return None
    channel = delivery.channel
    max_attempts = max_attempts or settings.ORBITER_NOTIFY_MAX_ATTEMPTS
    attempt = delivery.attempts + 1
    started = time.monotonic()
    http_status, error, permanent = None, "", False
    if not channel.enabled and not even_if_disabled:
        error, permanent = "the channel was disabled before this delivery", True
    else:
        try:
            http_status = SENDERS[channel.kind](channel, delivery)
        except DriverError as failure:
            error, permanent = failure.message, failure.permanent
            http_status = getattr(failure, "status", None)
        except Exception as failure:  # a bug in a sender must not lose the record
            log.exception("notification %s to %s: unexpected error", delivery.uuid, channel.name)
            error = f"{type(failure).__name__}: {failure}"
    now = timezone.now()
    entry = {"attempt": attempt, "at": now.isoformat(), "http_status": http_status, "error": error,
             "ms": round((time.monotonic() - started) * 1000)}
    countdown = None
    changes = {"attempts": attempt, "http_status": http_status, "error": error, "log": [*delivery.log, entry],
               "next_attempt_at": None}
    if not error:
        changes.update(status=DELIVERED, finished_at=now)
    elif permanent or attempt >= max_attempts:
        changes.update(status=FAILED, finished_at=now)
    else:
        countdown = _backoff(attempt)
        changes["next_attempt_at"] = now + timedelta(seconds=countdown)
    updated = Delivery.objects.filter(pk=delivery.pk, status=PENDING, attempts=delivery.attempts).update(**changes)
    if updated != 1:
        return None
    what = f"{delivery.event} of deployment #{delivery.deployment_id}" if delivery.deployment_id else delivery.event
    where = f"{what} to channel {channel.name} ({channel.kind})"
    if not error:
        log.info("notified %s (attempt %d)", where, attempt)
    elif countdown is not None:
        log.warning("notification %s failed (attempt %d of %d, retry in %gs): %s",
                    where, attempt, max_attempts, countdown, error)
    else:
        reason = "permanent error" if permanent else f"gave up after {attempt} attempts"
        log.error("notification %s FAILED, %s: %s", where, reason, error)
    return countdown


def channel_test(*, name: str, actor: str) -> Delivery:
    """Send a test notification to a channel now, once, and return its recorded Delivery."""
    channel = _channel(name)
    payload = payloads.test_payload(actor=actor, at=timezone.now().isoformat())
    delivery = Delivery.objects.create(channel=channel, event=events.TEST, transition=uuid.uuid4(), payload=payload)
    # One attempt, even to a disabled channel (test it before enabling): someone is waiting.
    delivery_attempt(delivery.pk, max_attempts=1, even_if_disabled=True)
    return Delivery.objects.select_related("channel").get(pk=delivery.pk)
