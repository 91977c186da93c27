"""Channels (where notifications go) and deliveries (one per channel and transition, with
every attempt recorded)."""

from uuid import uuid4

from django.db import models
from django.utils import timezone

WEBHOOK = "webhook"
SLACK = "slack"
EMAIL = "email"
KINDS = [WEBHOOK, SLACK, EMAIL]

PENDING = "pending"  # queued, or waiting for its next attempt
DELIVERED = "delivered"
FAILED = "failed"  # gave up: permanent error or attempts exhausted
DELIVERY_STATUSES = [PENDING, DELIVERED, FAILED]


class Channel(models.Model):
    name = models.SlugField(max_length=63, unique=True)
    kind = models.CharField(max_length=10, choices=[(k, k) for k in KINDS])
    url = models.URLField(max_length=500, blank=True, help_text="webhook: where to POST")
    secret = models.CharField(
        max_length=300, blank=True,
        help_text="where the secret is, never the secret: env:NAME or file:/path "
        "(webhook: the HMAC key; slack: the incoming-webhook URL)",
    )
    recipients = models.JSONField(default=list, blank=True, help_text="email: addresses")
    events = models.JSONField(default=list, help_text="notification events this channel hears")
    applications = models.ManyToManyField(
        "catalog.Application", blank=True, related_name="+", help_text="only these (none: all)"
    )
    environments = models.ManyToManyField(
        "catalog.Environment", blank=True, related_name="+", help_text="only these (none: all)"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.kind})"

    @property
    def target(self) -> str:
        """Where it sends, as safe to show (a Slack URL is a secret: only its reference)."""
        if self.kind == EMAIL:
            return ", ".join(self.recipients)
        if self.kind == SLACK:
            return self.secret
        return self.url


class Delivery(models.Model):
    """One notification to one channel. `uuid` is the X-Orbiter-Delivery header: the same
    across retries, so a receiver can drop a duplicate."""

    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    event = models.CharField(max_length=20)
    # The transition announced (one id per signal): a repeated fan-out task creates nothing new.
    transition = models.UUIDField(default=uuid4)
    payload = models.JSONField(default=dict)

    status = models.CharField(max_length=10, choices=[(s, s) for s in DELIVERY_STATUSES], default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    http_status = models.PositiveIntegerField(null=True, blank=True, help_text="of the last attempt")
    error = models.TextField(blank=True, help_text="of the last attempt")
    log = models.JSONField(default=list, blank=True, help_text="every attempt: at, http_status, error, ms")
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["channel", "transition"], name="delivery_once_per_transition"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="delivery_status_created")]

    def __str__(self):
        return f"{self.event} → {self.channel.name}: {self.status}"
