"""The append-only audit trail. An Event is written in the transaction of the change it records."""

from django.db import models
from django.utils import timezone

from orbiter.audit.context import current_source_ip


class Event(models.Model):
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150)
    verb = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    before = models.CharField(max_length=40, blank=True)
    after = models.CharField(max_length=40, blank=True)
    # Denormalized so a deployment's timeline is one indexed query: on (deployment_id, id),
    # newest first without sorting the deployment's thousands of events.
    deployment_id = models.BigIntegerField(null=True, blank=True)
    # The client's address while serving a request (see audit/context.py); None for workers.
    source_ip = models.GenericIPAddressField(null=True, blank=True, default=current_source_ip)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="event_object"),
                   models.Index(fields=["deployment_id", "id"], name="event_deployment")]

    def __str__(self):
        change = f" {self.before}→{self.after}" if self.before or self.after else ""
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.verb} {self.object_type}:{self.object_id}{change}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")
