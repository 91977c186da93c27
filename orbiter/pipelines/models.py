"""Pipelines (definition: stages and gates) and their runs (one per artifact).

Definitions change (`orbiter pipeline apply`), history must not: a stage run names its
environment and a gate run its gate's name and kind, so the history survives a stage or
gate being removed. Statuses change only through `transitions.py`.
"""

from django.db import models
from django.utils import timezone

from orbiter.pipelines import states

QUEUE, SUPERSEDE = "queue", "supersede"
POLICIES = (QUEUE, SUPERSEDE)
AUTOMATIC, APPROVAL = "automatic", "approval"
PROMOTIONS = (AUTOMATIC, APPROVAL)
COMMAND, HTTP, JENKINS, MANUAL = "command", "http", "jenkins", "manual"
GATE_KINDS = (COMMAND, HTTP, JENKINS, MANUAL)


class Pipeline(models.Model):
    application = models.OneToOneField("catalog.Application", on_delete=models.CASCADE, related_name="pipeline")
    continuous_delivery = models.BooleanField(
        default=True, help_text="a new artifact starts a deployment to the first stage by itself"
    )
    policy = models.CharField(
        max_length=20, choices=[(p, p) for p in POLICIES], default=SUPERSEDE,
        help_text="a newer artifact arriving while an older one is mid-pipeline: queue behind it, or supersede it",
    )
    # Artifacts found since then enter the pipeline by themselves (the sweeper uses it to
    # catch an arrival whose task was lost).
    continuous_delivery_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"pipeline of {self.application}"


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveIntegerField()
    environment = models.ForeignKey("catalog.Environment", on_delete=models.PROTECT, related_name="+")
    promotion = models.CharField(
        max_length=20, choices=[(p, p) for p in PROMOTIONS], default=AUTOMATIC,
        help_text="how an artifact that passed the previous stage gets here: by itself, or approved by a person",
    )
    url = models.CharField(
        max_length=500, blank=True, help_text="the stage's address for gates (ORBITER_STAGE_URL, {stage_url})"
    )

    class Meta:
        ordering = ["pipeline", "position"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "position"], name="stage_unique_position"),
            models.UniqueConstraint(fields=["pipeline", "environment"], name="stage_unique_environment"),
        ]

    def __str__(self):
        return f"{self.pipeline.application} stage {self.position + 1}: {self.environment}"


class Gate(models.Model):
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="gates")
    name = models.SlugField(max_length=63)
    kind = models.CharField(max_length=20, choices=[(k, k) for k in GATE_KINDS])
    options = models.JSONField(default=dict, blank=True)
    retries = models.PositiveIntegerField(default=0, help_text="extra attempts after a failed or inconclusive one")
    retry_delay_s = models.FloatField(default=5.0)
    timeout_s = models.FloatField(default=600.0)

    class Meta:
        ordering = ["stage", "name"]
        constraints = [models.UniqueConstraint(fields=["stage", "name"], name="gate_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.kind})"


class PipelineRun(models.Model):
    """One artifact's way through its application's pipeline."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="runs")
    artifact = models.ForeignKey("catalog.Artifact", on_delete=models.PROTECT, related_name="pipeline_runs")
    status = models.CharField(max_length=20, choices=[(s, s) for s in states.RUN_STATUSES], default=states.QUEUED)
    message = models.TextField(blank=True, help_text="why it is waiting, paused, failed or superseded")
    superseded_by = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    started_by = models.CharField(max_length=150, default="pipeline")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    advanced_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True, help_text="blocked: when to try the deployment again")

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "artifact"], name="pipeline_run_one_per_artifact")]
        indexes = [models.Index(fields=["pipeline", "status"], name="pipeline_run_status")]

    def __str__(self):
        return f"run #{self.pk} {self.artifact.label} ({self.status})"


class StageRun(models.Model):
    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="stage_runs")
    stage = models.ForeignKey(Stage, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    environment = models.ForeignKey("catalog.Environment", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20, choices=[(s, s) for s in states.STAGE_STATUSES], default=states.S_PENDING
    )
    message = models.TextField(blank=True)
    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.SET_NULL, null=True, blank=True, related_name="stage_runs"
    )
    approved_by = models.CharField(max_length=150, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    # The phases, for lead time: created → deployment requested → deployed → gates done → passed.
    created_at = models.DateTimeField(default=timezone.now)
    deploy_requested_at = models.DateTimeField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)
    gates_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "environment"], name="stage_run_unique")]

    def __str__(self):
        return f"{self.run} at {self.environment} ({self.status})"


class GateRun(models.Model):
    stage_run = models.ForeignKey(StageRun, on_delete=models.CASCADE, related_name="gate_runs")
    gate = models.ForeignKey(Gate, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    name = models.SlugField(max_length=63)
    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=20, choices=[(s, s) for s in states.GATE_STATUSES], default=states.G_PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="attempts that finished with a result")
    allowed_attempts = models.PositiveIntegerField(default=1)
    outcome = models.CharField(max_length=20, blank=True, help_text="last attempt: passed, failed, inconclusive, timeout")
    message = models.TextField(blank=True)
    output = models.TextField(blank=True, help_text="tail of the last attempt's output")
    link = models.URLField(max_length=500, blank=True, help_text="e.g. the Jenkins build")
    state = models.JSONField(default=dict, blank=True, help_text="driver checkpoint (e.g. the Jenkins queue item)")
    decided_by = models.CharField(max_length=150, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stage_run", "name"]
        constraints = [models.UniqueConstraint(fields=["stage_run", "name"], name="gate_run_unique")]
        indexes = [models.Index(fields=["status", "lease_until"], name="gate_run_status_lease")]

    def __str__(self):
        return f"gate {self.name} of {self.stage_run} ({self.status})"


class StageOverride(models.Model):
    """An admin let an artifact reach an environment without passing the stages before it."""

    artifact = models.ForeignKey("catalog.Artifact", on_delete=models.CASCADE, related_name="stage_overrides")
    environment = models.ForeignKey("catalog.Environment", on_delete=models.CASCADE, related_name="+")
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.artifact} may skip to {self.environment} ({self.actor}: {self.reason})"
