"""A deployment (artifact -> environment) and its hosts. Statuses change only through
`transitions.py`; nothing else assigns them."""

import re

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from orbiter.deployments import states

ONE_WAITING_PER_TARGET = "deployment_one_waiting_per_target"


class Deployment(models.Model):
    # Indexed through (application, id), which also serves the history's newest-first pages.
    application = models.ForeignKey(
        "catalog.Application", on_delete=models.PROTECT, related_name="deployments", db_index=False
    )
    environment = models.ForeignKey("catalog.Environment", on_delete=models.PROTECT, related_name="deployments")
    artifact = models.ForeignKey("catalog.Artifact", on_delete=models.PROTECT, related_name="deployments")
    status = models.CharField(
        max_length=20, choices=[(s, s) for s in states.DEPLOYMENT_STATUSES], default=states.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150)
    comment = models.TextField(blank=True)
    is_rollback = models.BooleanField(default=False)
    rollback_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="rollbacks")
    queued_behind = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    strategy = models.JSONField(default=dict)  # see strategy.Strategy
    plan = models.JSONField(default=list)  # frozen at start: [[host_id, ...], ...]
    current_batch = models.IntegerField(default=-1)
    batch_finished_at = models.DateTimeField(null=True, blank=True)
    # Pauses already taken after batch N (so resuming does not pause at the same place again).
    pauses_taken_through = models.IntegerField(default=-1)
    cancel_requested = models.BooleanField(default=False)
    message = models.TextField(blank=True, help_text="why it is waiting, paused or failed")

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    # Engine bookkeeping: when the engine wants to look again, and whether a wake-up is queued.
    wake_at = models.DateTimeField(null=True, blank=True)
    wake_pending = models.BooleanField(default=False)
    advanced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["application", "environment", "status"], name="deployment_app_env_status"),
            models.Index(fields=["status", "wake_at"], name="deployment_status_wake"),
            models.Index(fields=["application", "id"], name="deployment_app_id"),
        ]
        constraints = [
            # At most one deployment of an application and environment waits to start without
            # having asked to queue: the database settles requests that arrive at once (the
            # service's check refuses the rest with its message). Queued deployments
            # (queued_behind set) and rollbacks (they run while their parent is rolling back)
            # wait beside it by design; the engine starts them one at a time.
            models.UniqueConstraint(
                fields=["application", "environment"],
                condition=Q(status__in=sorted(states.WAITING), queued_behind__isnull=True, is_rollback=False),
                name=ONE_WAITING_PER_TARGET,
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.application} {self.artifact.label} → {self.environment} ({self.status})"


class HostDeployment(models.Model):
    # Indexed through the unique (deployment, host) and (deployment, status) indexes.
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="hosts", db_index=False)
    host = models.ForeignKey("catalog.Host", on_delete=models.PROTECT, related_name="host_deployments")
    batch = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20, choices=[(s, s) for s in states.HOST_STATUSES], default=states.H_PENDING
    )
    target_artifact = models.ForeignKey("catalog.Artifact", on_delete=models.PROTECT, related_name="+", db_index=False)
    previous_artifact = models.ForeignKey(
        "catalog.Artifact", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    pin_moved = models.BooleanField(default=False)

    # The current step: which round (bumped by "retry failed hosts"), which attempt of the
    # step, and the outward action's issue time, deadline and recorded outcome. Attempts and
    # durations of finished steps are in the data of the host's transition Events.
    round = models.PositiveIntegerField(default=1)
    attempt = models.PositiveIntegerField(default=1)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_deadline = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    action_issued_at = models.DateTimeField(null=True, blank=True)
    resent = models.BooleanField(default=False)
    outcome = models.JSONField(null=True, blank=True)  # {"ok": bool, "permanent": bool, "message": str, ...}

    puppet = models.JSONField(default=dict, blank=True)  # converge summary (changed, failed, duration...)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "host__certname"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "host"], name="host_deployment_unique"),
        ]
        indexes = [models.Index(fields=["deployment", "status"], name="host_deployment_status")]

    def __str__(self):
        return f"{self.host} in #{self.deployment_id}: {self.status}"

    @property
    def request_id(self) -> str:
        """The id of the current step's outward request: (host deployment, round, attempt)."""
        return f"d{self.deployment_id}-h{self.pk}-r{self.round}-a{self.attempt}"


_REQUEST_ID = re.compile(r"^d(\d{1,18})-h(\d{1,18})-r(\d{1,6})-a(\d{1,6})$")


def parse_request_id(request_id: str) -> tuple[int, int, int, int] | None:
    """(deployment id, host deployment id, round, attempt), or None for a foreign id."""
    match = _REQUEST_ID.match(request_id or "")
    return tuple(int(g) for g in match.groups()) if match else None
