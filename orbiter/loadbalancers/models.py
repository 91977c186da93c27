from django.db import models
from django.utils import timezone

from orbiter.loadbalancers import budget


class Pool(models.Model):
    """A load-balancer pool serving one application in one environment."""

    name = models.SlugField(max_length=63, unique=True)
    application = models.ForeignKey("catalog.Application", on_delete=models.CASCADE, related_name="pools")
    environment = models.ForeignKey("catalog.Environment", on_delete=models.CASCADE, related_name="pools")
    driver = models.CharField(max_length=40, default="simulated")
    options = models.JSONField(default=dict, blank=True)
    # How many members may be out of service at once, for any reason (loadbalancers/capacity.py):
    # a count ("2") or a percentage of the members ("25%"); empty for no budget.
    max_unavailable = models.CharField(max_length=8, blank=True, default="", validators=[budget.model_validator])
    # The member name a host gets when it joins the pool without one given (a host from a
    # PuppetDB source): "{certname}" or "{hostname}" (the certname up to its first dot).
    member_template = models.CharField(max_length=200, default="{certname}")

    def __str__(self):
        return self.name


class PoolMember(models.Model):
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="members")
    host = models.ForeignKey("catalog.Host", on_delete=models.CASCADE, related_name="pool_memberships")
    member = models.CharField(max_length=200, help_text="the member's name on the load balancer")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pool", "host"], name="pool_member_unique")]

    def __str__(self):
        return f"{self.pool}/{self.member}"


class SimulatedMemberState(models.Model):
    """The state the simulated load balancer keeps (in the database, so every worker sees it)."""

    pool = models.CharField(max_length=63)
    member = models.CharField(max_length=200)
    admin = models.CharField(max_length=10, default="up")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pool", "member"], name="simulated_member_unique")]

    def __str__(self):
        return f"{self.pool}/{self.member}: {self.admin}"
