"""Where hosts come from: PuppetDB queries whose nodes become (and stop being) Orbiter hosts."""

from django.db import models
from django.utils import timezone

MIN_SYNC_INTERVAL_S = 30
DEFAULT_SYNC_INTERVAL_S = 300


class HostSource(models.Model):
    """A PuppetDB query whose nodes are the hosts of one environment.

    Each node the query returns becomes a host of `environment`, of the applications its
    `applications` rules map it to (by Puppet class or by fact), with the facts named in
    `facts` kept and the `labels` read from facts. A node no longer returned (or deactivated)
    is retired: never deleted, never in the middle of a deployment that involves it.

    `applications`: a list of rules, each {"application": NAME, "class": "Shop_api"} or
    {"application": NAME, "fact": "role", "value": "shop"}.
    `labels`: {label: fact name}, e.g. {"datacenter": "dc"}.
    """

    name = models.SlugField(max_length=63, unique=True)
    environment = models.ForeignKey("catalog.Environment", on_delete=models.PROTECT, related_name="host_sources")
    url = models.CharField(max_length=500, help_text="PuppetDB's base URL, e.g. https://puppetdb.example.com:8081")
    # Files on the control plane (never their content): PuppetDB asks for a client certificate
    # signed by the Puppet CA on its TLS port.
    ca_file = models.CharField(max_length=500, blank=True)
    cert_file = models.CharField(max_length=500, blank=True)
    key_file = models.CharField(max_length=500, blank=True)
    query = models.TextField(help_text="PQL returning nodes, e.g. nodes[certname] { resources { type = 'Class' and title = 'Shop_api' } }")
    facts = models.JSONField(default=list, blank=True, help_text='fact names to keep, e.g. ["os", "ipaddress"]')
    labels = models.JSONField(default=dict, blank=True, help_text='label -> fact name, e.g. {"datacenter": "dc"}')
    applications = models.JSONField(default=list, blank=True, help_text="rules mapping a node to applications")
    interval_s = models.PositiveIntegerField(default=DEFAULT_SYNC_INTERVAL_S)
    enabled = models.BooleanField(default=True)

    next_sync_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_summary = models.JSONField(default=dict, blank=True, help_text="counts of the last successful sync")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def healthy(self) -> bool:
        return not self.last_error


class NodeFacts(models.Model):
    """The facts a source keeps of one of its hosts, as PuppetDB last answered them. Apart from
    Host.facts, which the host's own agent reports and replaces whole at each report."""

    host = models.OneToOneField("catalog.Host", on_delete=models.CASCADE, related_name="node_facts")
    facts = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"facts of {self.host_id}"
