"""Who may do what: role bindings (user or group → environment or all → role) and API tokens."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone

ROLE_CHOICES = [("viewer", "viewer"), ("deployer", "deployer"), ("approver", "approver"), ("admin", "admin")]


class RoleBinding(models.Model):
    """A role for a user or a group, in one environment or (environment empty) in all of them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="role_bindings"
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, null=True, blank=True, related_name="role_bindings")
    environment = models.ForeignKey(
        "catalog.Environment", on_delete=models.CASCADE, null=True, blank=True, related_name="role_bindings",
        help_text="empty: every environment",
    )
    role = models.CharField(max_length=10, choices=ROLE_CHOICES)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="rolebinding_user_xor_group",
            ),
        ]
        indexes = [models.Index(fields=["user"], name="rolebinding_user"),
                   models.Index(fields=["group"], name="rolebinding_group")]

    def __str__(self):
        who = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{who}: {self.role} in {self.environment or 'all environments'}"


class ApiToken(models.Model):
    """A bearer token for CI and scripts. Only the SHA-256 of the token is stored.

    It acts as its user, with the user's roles capped: by `max_role`, and to the listed
    applications and environments (empty list: no restriction on that axis).
    """

    name = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    prefix = models.CharField(max_length=12, help_text="first characters, to recognise a token in lists")
    token_hash = models.CharField(max_length=64, unique=True)
    max_role = models.CharField(max_length=10, choices=ROLE_CHOICES, default="deployer")
    applications = models.ManyToManyField("catalog.Application", blank=True, related_name="+")
    environments = models.ManyToManyField("catalog.Environment", blank=True, related_name="+")
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…, {self.user})"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class DeploymentApproval(models.Model):
    """One person's approval of a deployment to a protected environment (four eyes: never the
    requester's). The deployment leaves awaiting_approval when the environment's
    `min_approvals` distinct approvals are in."""

    deployment = models.ForeignKey("deployments.Deployment", on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approver_name = models.CharField(max_length=150)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "approver_name"], name="approval_once_per_person"),
        ]

    def __str__(self):
        return f"#{self.deployment_id} approved by {self.approver_name}"
