from django.db import models
from django.utils import timezone


class SimulatedConvergeRun(models.Model):
    """The simulated fleet's ledger: one row per converge it performed, keyed by request id,
    so a repeated request is answered from here and never performed twice."""

    request_id = models.CharField(max_length=80, unique=True)
    certname = models.CharField(max_length=253)
    application = models.CharField(max_length=63)
    version = models.CharField(max_length=200)
    ok = models.BooleanField()
    permanent = models.BooleanField(default=False)
    message = models.CharField(max_length=200, blank=True)
    performed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.request_id} {self.certname} {self.version} {'ok' if self.ok else 'failed'}"
