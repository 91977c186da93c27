from django.db import models


class Liveness(models.Model):
    """The last beat of one control-plane process (orbiter/core/liveness.py)."""

    role = models.CharField(max_length=20)  # scheduler, worker, listener
    instance = models.CharField(max_length=200)  # host and process (a worker: its node name)
    beat_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "instance"], name="liveness_unique")]

    def __str__(self):
        return f"{self.role} {self.instance} at {self.beat_at:%H:%M:%S}"
