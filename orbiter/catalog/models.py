"""What Orbiter deploys and where: applications, environments, hosts, artifacts, pins."""

from django.db import models
from django.utils import timezone

from orbiter.artifacts.rpmversion import EVR


class Application(models.Model):
    name = models.SlugField(max_length=63, unique=True)
    package = models.CharField(max_length=200, help_text="RPM package name")
    puppet_class = models.CharField(
        max_length=200, blank=True, help_text="class the ENC assigns with the pinned version (default: name with _)"
    )
    description = models.TextField(blank=True)

    # Rollout defaults, copied into each deployment's strategy (see deployments/strategy.py).
    rollout_defaults = models.JSONField(default=dict, blank=True)

    converge_driver = models.CharField(max_length=40, default="simulated")
    converge_options = models.JSONField(default=dict, blank=True)
    health_driver = models.CharField(max_length=40, default="none")
    health_options = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Environment(models.Model):
    name = models.SlugField(max_length=63, unique=True)
    order = models.PositiveIntegerField(default=0, help_text="position in the pipeline")
    requires_approval = models.BooleanField(default=False)
    min_approvals = models.PositiveSmallIntegerField(
        default=1, help_text="distinct approvers (none of them the requester) a deployment needs when approval is required"
    )
    puppet_environment = models.CharField(max_length=63, blank=True, help_text="Puppet environment the ENC sets")

    # A lock is a reason plus an author, never a bare boolean.
    lock_reason = models.TextField(blank=True)
    locked_by = models.CharField(max_length=150, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self):
        return self.name

    @property
    def is_locked(self) -> bool:
        return bool(self.lock_reason)


class FreezeWindow(models.Model):
    """No deployments to the environment while a window is open (rollbacks and admin overrides
    excepted). Either one date range (`once`: starts_at → ends_at), or `weekly`: on the given
    days from start_time to end_time, wall-clock in `timezone`; an end at or before the start
    runs past midnight into the next day (Fri 18:00 → 06:00 covers Friday night)."""

    ONCE, WEEKLY = "once", "weekly"
    DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="freezes")
    kind = models.CharField(max_length=10, choices=[(ONCE, ONCE), (WEEKLY, WEEKLY)], default=ONCE)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    weekdays = models.JSONField(default=list, blank=True, help_text='weekly: e.g. ["fri", "sat"]')
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Paris")
    reason = models.CharField(max_length=200)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]

    def __str__(self):
        if self.kind == self.WEEKLY:
            return (f"{self.environment}: {self.reason} ({','.join(self.weekdays)} "
                    f"{self.start_time:%H:%M}–{self.end_time:%H:%M} {self.timezone})")
        return f"{self.environment}: {self.reason} ({self.starts_at:%Y-%m-%d %H:%M} → {self.ends_at:%Y-%m-%d %H:%M})"


class Host(models.Model):
    certname = models.CharField(max_length=253, unique=True)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="hosts")
    applications = models.ManyToManyField(Application, related_name="hosts", blank=True)
    labels = models.JSONField(default=dict, blank=True)
    healthy = models.BooleanField(default=True, help_text="reachable and passing health checks")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    agent_public_key = models.TextField(blank=True, help_text="trusted Ed25519 key (base64) of the host's agent")
    # A key the agent offered without a token, waiting for an admin to compare fingerprints.
    agent_key_pending = models.TextField(blank=True)
    # Where the host came from: a PuppetDB source keeps it in step; None for a host listed by hand.
    source = models.ForeignKey("inventory.HostSource", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="hosts")
    # Set when the host left its source (gone from PuppetDB or deactivated): kept with its
    # history, out of its applications and pools, never deployed to.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["certname"]

    def __str__(self):
        return self.certname


class UnassignedHost(models.Model):
    """An agent that offered its key under a certname Orbiter does not know. It waits here for
    an admin to assign it (to an environment and applications) or reject it; a rejected
    certname's later offers are refused quietly."""

    certname = models.CharField(max_length=253, unique=True)
    public_key = models.TextField(help_text="the Ed25519 key (base64) it offered")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=1)
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["certname"]

    def __str__(self):
        return f"{self.certname} ({'rejected' if self.rejected_at else 'unassigned'})"


class Artifact(models.Model):
    """One build of an application: an RPM identified by its NEVRA."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="artifacts")
    name = models.CharField(max_length=200)
    epoch = models.PositiveIntegerField(default=0)
    version = models.CharField(max_length=100)
    release = models.CharField(max_length=100)
    arch = models.CharField(max_length=20, default="noarch")
    source_url = models.URLField(max_length=500, blank=True)
    build_url = models.URLField(max_length=500, blank=True)
    checksum = models.CharField(max_length=200, blank=True)
    found_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["application", "epoch", "version", "release", "arch"], name="artifact_unique_nevra"
            )
        ]
        ordering = ["-found_at"]

    def __str__(self):
        return f"{self.name}-{self.evr}.{self.arch}"

    @property
    def evr(self) -> EVR:
        return EVR(self.epoch, self.version, self.release)

    @property
    def label(self) -> str:
        """What users type: version-release, with the epoch only when it is set."""
        return str(self.evr)


class Pin(models.Model):
    """What Puppet is told to install of an application on a host (served by the ENC)."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="pins")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="pins")
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="pins")
    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "application"], name="pin_one_per_host_application")
        ]

    def __str__(self):
        return f"{self.host} {self.application}={self.artifact.label}"




class EnrollmentToken(models.Model):
    """A one-time token an admin hands to a host so its agent key is trusted on first contact."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="enrollment_tokens")
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 hex; the token itself is never stored
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"token for {self.host} ({'used' if self.used_at else 'unused'})"
