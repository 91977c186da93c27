"""A deployment (artifact -> environment) and its hosts. Statuses change only through
`transitions.py`; nothing else assigns them."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from orbiter.deployments import states


class Deployment(models.Model):
    application = models.ForeignKey("catalog.Application", on_delete=models.PROTECT, related_name="deployments")
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
        ]

    def __str__(self):
        return f"#{self.pk} {self.application} {self.artifact.label} → {self.environment} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in states.ACTIVE


class HostDeployment(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="hosts")
    host = models.ForeignKey("catalog.Host", on_delete=models.PROTECT, related_name="host_deployments")
    batch = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20, choices=[(s, s) for s in states.HOST_STATUSES], default=states.H_PENDING
    )
    target_artifact = models.ForeignKey("catalog.Artifact", on_delete=models.PROTECT, related_name="+")
    previous_artifact = models.ForeignKey(
        "catalog.Artifact", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pin_moved = models.BooleanField(default=False)

    # The current step: which round (bumped by "retry failed hosts"), which attempt of the
    # step, and the outward action's request id, issue time, deadline and recorded outcome.
    round = models.PositiveIntegerField(default=1)
    attempt = models.PositiveIntegerField(default=1)
    request_id = models.CharField(max_length=80, blank=True, db_index=True)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_deadline = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    action_issued_at = models.DateTimeField(null=True, blank=True)
    resent = models.BooleanField(default=False)
    outcome = models.JSONField(null=True, blank=True)  # {"ok": bool, "permanent": bool, "message": str, ...}

    puppet = models.JSONField(default=dict, blank=True)  # converge summary (changed, failed, duration...)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    steps = models.JSONField(default=dict, blank=True)  # finished steps: {step: {"attempts": n, "seconds": s}}
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
