"""Keeping a source's hosts in step with PuppetDB: `source_sync`.

1. Ask the node source (PuppetDB) for the nodes, outside any transaction. A failure (down,
   TLS, garbage) is recorded on the source (`last_error`; `last_success_at` kept) and raised:
   nothing else changes.
2. In one transaction, with the source's row locked (two syncs of one source take turns):
   read the hosts involved, compare each node's wanted state with its host, and write the
   differences in bulk: a fixed number of statements per sync whatever the number of nodes
   (rows by COPY or one JSON document; updates by batches of BATCH).
   - a new node: a host of the source's environment, its applications from the rules,
     labels and kept facts, in the pools of (application, environment) named by each pool's
     member_template, and pinned to the version the environment runs now
     (catalog.selectors.current_versions), so the ENC answers it from its first run;
   - a node whose host is retired: reactivated the same way;
   - a node whose applications, labels or kept facts changed: updated (joins and leaves
     pools and pins as its applications change);
   - a host of the source whose node is gone or inactive: retired (retired_at set, out of
     its applications, pools and pins; its history kept, never deleted), unless a
     deployment that is not finished involves it: then it stays, reported as waiting, and
     the end of that deployment makes the source due again (receivers.py);
   - a certname that is a host listed by hand or of another source: never touched,
     reported as a clash.
3. One Event for the sync (counts and certnames) and one per host created, reactivated,
   updated or retired.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.audit.services import event_record
from orbiter.catalog.models import Application, Host, Pin
from orbiter.catalog.selectors import current_versions
from orbiter.catalog.unassigned import unassigned_claim
from orbiter.deployments import states
from orbiter.deployments.models import HostDeployment
from orbiter.deployments.rows import in_ids, rows_insert
from orbiter.inventory import puppetdb
from orbiter.inventory.mapping import Rules
from orbiter.inventory.models import HostSource, NodeFacts
from orbiter.loadbalancers.models import Pool, PoolMember

log = logging.getLogger("orbiter.inventory")

BATCH = 1000
EVENT_NAMES_MAX = 1000  # certnames listed per kind in the sync's Event


@dataclass
class SyncDiff:
    source: str
    dry_run: bool = False
    nodes: int = 0
    created: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    retire_waiting: list[str] = field(default_factory=list)  # gone, but in a deployment not finished
    clashes: list[str] = field(default_factory=list)  # "certname: why it is not the source's"
    unchanged: int = 0
    pool_members_added: int = 0  # of hosts joining an application, or of a pool created since they did
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict:
        return {"nodes": self.nodes, "created": len(self.created), "reactivated": len(self.reactivated),
                "updated": len(self.updated), "retired": len(self.retired),
                "retire_waiting": len(self.retire_waiting), "clashes": len(self.clashes),
                "unchanged": self.unchanged, "pool_members_added": self.pool_members_added,
                "warnings": len(self.warnings)}

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reactivated or self.updated or self.retired)

    def as_dict(self) -> dict:
        return {**asdict(self), "counts": self.counts}


@dataclass
class _Host:
    """A host as the sync reads it: one row, its applications, its kept facts."""

    pk: int
    certname: str
    source_id: int | None
    retired: bool
    labels: dict
    apps: set[int]
    facts: dict | None  # None: no NodeFacts row yet
    facts_pk: int | None = None


def connect(source: HostSource) -> puppetdb.NodeSource:
    """The node source of a host source: its PuppetDB (tests replace this function)."""
    return puppetdb.PuppetDB(url=source.url, query=source.query, wanted=Rules.of(source).wanted,
                             ca_file=source.ca_file, cert_file=source.cert_file, key_file=source.key_file,
                             timeout_s=settings.ORBITER_INVENTORY_TIMEOUT_S)


def source_sync(source: HostSource | int, *, actor: str, dry_run: bool = False) -> SyncDiff:
    """Sync one source (see the module's docstring); `dry_run` computes the diff and writes
    nothing, not even the source's sync state. Raises PuppetDBError when PuppetDB could not
    be read (recorded on the source unless dry_run)."""
    source = HostSource.objects.select_related("environment").get(pk=getattr(source, "pk", source))
    rules = Rules.of(source)
    nodes_from = connect(source)
    now = timezone.now()
    try:
        nodes = nodes_from.nodes()
        _refuse_if_empty(source, nodes)
    except puppetdb.PuppetDBError as error:
        if not dry_run:
            _record_failure(source, error.message, now, actor=actor)
        raise
    diff = SyncDiff(source.name, dry_run=dry_run, warnings=list(getattr(nodes_from, "warnings", [])))
    with transaction.atomic():
        HostSource.objects.select_for_update().filter(pk=source.pk).first()
        _apply(source, rules, nodes, diff, now=now, actor=actor, write=not dry_run)
        if not dry_run:
            HostSource.objects.filter(pk=source.pk).update(
                last_attempt_at=now, last_success_at=now, last_error="", last_summary=diff.counts,
                next_sync_at=now + timedelta(seconds=source.interval_s))
            event_record(actor=actor, verb="hostsource.sync", obj=source, data=_event_data(diff))
    return diff


def _refuse_if_empty(source: HostSource, nodes: list) -> None:
    """No active node at all while the source has hosts: a PuppetDB that was just reinstalled
    or restored empty, or a query that lost its meaning, far more often than a whole fleet
    decommissioned at once. Refused like garbage (nothing changes); retire by hand, or delete
    the source, when it is meant."""
    if any(node.active for node in nodes):
        return
    active = Host.objects.filter(source=source, retired_at__isnull=True).count()
    if active:
        raise puppetdb.PuppetDBError(f"{source.url}: the query returned no active node, and the source has {active} "
                                     "hosts; refusing to retire them all (retire them by hand, or delete the "
                                     "source, if that is meant)")


def _record_failure(source: HostSource, message: str, now, *, actor: str) -> None:
    message = message.replace("\x00", "\\x00")  # PostgreSQL stores no NUL in text
    with transaction.atomic():
        HostSource.objects.filter(pk=source.pk).update(
            last_attempt_at=now, last_error=message[:2000], next_sync_at=now + timedelta(seconds=source.interval_s))
        event_record(actor=actor, verb="hostsource.sync_failed", obj=source, data={"error": message[:2000]})
    log.warning("host source %s: %s", source.name, message)


def _apply(source: HostSource, rules: Rules, nodes: list, diff: SyncDiff, *, now, actor: str, write: bool) -> None:
    active_nodes = {node.certname: node for node in nodes if node.active}
    diff.nodes = len(active_nodes)
    app_ids = dict(Application.objects.filter(
        name__in={rule["application"] for rule in source.applications}).values_list("name", "pk"))
    hosts = _hosts(source, list(active_nodes))

    wanted: dict[str, tuple[set[int], dict, dict]] = {}  # certname -> (apps, labels, kept facts)
    for certname, node in active_nodes.items():
        host = hosts.get(certname)
        if host is not None and host.source_id != source.pk:
            owner = "listed by hand" if host.source_id is None else f"of source #{host.source_id}"
            diff.clashes.append(f"{certname}: a host {owner}; left as it is")
            continue
        state = ({app_ids[name] for name in rules.applications(node) if name in app_ids},
                 rules.labels_of(node, diff.warnings), rules.facts_of(node))
        wanted[certname] = state
        if host is None:
            diff.created.append(certname)
        elif host.retired:
            diff.reactivated.append(certname)
        elif (host.apps, host.labels, host.facts) != state:
            diff.updated.append(certname)
        else:
            diff.unchanged += 1
    gone = [host for host in hosts.values()
            if host.source_id == source.pk and not host.retired and host.certname not in active_nodes]
    busy = _busy({host.pk for host in gone})
    for host in gone:
        (diff.retire_waiting if host.pk in busy else diff.retired).append(host.certname)
    for names in (diff.created, diff.reactivated, diff.updated, diff.retired, diff.retire_waiting, diff.clashes):
        names.sort()
    if write:
        _write(source, hosts, wanted, diff, now=now, actor=actor)


def _hosts(source: HostSource, certnames: list[str]) -> dict[str, _Host]:
    """The hosts a sync may touch or must not: those of the nodes' certnames and those of the
    source (three queries)."""
    rows = Host.objects.filter(Q(certname__in=_in_texts(certnames)) | Q(source=source)).values_list(
        "pk", "certname", "source_id", "retired_at", "labels")
    hosts = {certname: _Host(pk, certname, source_id, retired_at is not None, labels or {}, set(), None)
             for pk, certname, source_id, retired_at, labels in rows}
    by_pk = {host.pk: host for host in hosts.values() if host.source_id == source.pk}
    if by_pk:
        through = Host.applications.through
        for host_id, app_id in through.objects.filter(host_id__in=in_ids(by_pk)).values_list(
                "host_id", "application_id"):
            by_pk[host_id].apps.add(app_id)
        for pk, host_id, facts in NodeFacts.objects.filter(host_id__in=in_ids(by_pk)).values_list(
                "pk", "host_id", "facts"):
            by_pk[host_id].facts, by_pk[host_id].facts_pk = facts, pk
    return hosts


def _busy(host_ids: set[int]) -> set[int]:
    """Those of `host_ids` a deployment that is not finished involves."""
    if not host_ids:
        return set()
    return set(HostDeployment.objects.filter(host_id__in=in_ids(host_ids), deployment__status__in=states.ACTIVE)
               .values_list("host_id", flat=True).distinct())


def _write(source: HostSource, hosts: dict[str, _Host], wanted: dict, diff: SyncDiff, *, now, actor: str) -> None:
    env = source.environment
    if diff.created:
        rows_insert(Host, [{"certname": name, "environment_id": env.pk, "labels": wanted[name][1],
                            "source_id": source.pk} for name in diff.created])
        for pk, certname in Host.objects.filter(certname__in=_in_texts(diff.created)).values_list("pk", "certname"):
            hosts[certname] = _Host(pk, certname, source.pk, False, wanted[certname][1], set(), None)
        unassigned_claim(diff.created)  # an agent that enrolled before the node was known: its key waits
    # Host rows: labels of the changed; retired_at and the environment of the reactivated (the
    # source may have moved to another environment while they were retired).
    changed = [hosts[name] for name in [*diff.reactivated, *diff.updated]
               if hosts[name].labels != wanted[name][1] or hosts[name].retired]
    for start in range(0, len(changed), BATCH):
        Host.objects.bulk_update([Host(pk=host.pk, labels=wanted[host.certname][1], retired_at=None,
                                       environment_id=env.pk) for host in changed[start:start + BATCH]],
                                 ["labels", "retired_at", "environment"])
    if diff.reactivated:  # out of any pool of another environment it was left in
        PoolMember.objects.filter(host_id__in=in_ids([hosts[name].pk for name in diff.reactivated])).exclude(
            pool__environment=env).delete()
    retired = [hosts[name] for name in diff.retired]
    if retired:
        Host.objects.filter(pk__in=in_ids([host.pk for host in retired])).update(retired_at=now)

    # Applications, pins and pools: (host, application) pairs leaving and joining.
    leaving: dict[int, set[int]] = {}  # application id -> host ids
    joining: dict[int, set[int]] = {}
    for host in [*retired, *(hosts[name] for name in [*diff.created, *diff.reactivated, *diff.updated])]:
        apps = wanted[host.certname][0] if host.certname in wanted else set()
        for app in host.apps - apps:
            leaving.setdefault(app, set()).add(host.pk)
        for app in apps - host.apps:
            joining.setdefault(app, set()).add(host.pk)
    _leave(leaving)
    _join(joining, source)
    diff.pool_members_added = _fill_pools(source, hosts, wanted)

    # Kept facts: a row per host, inserted or replaced.
    new_facts = [hosts[name] for name in wanted if hosts[name].facts is None]
    rows_insert(NodeFacts, [{"host_id": host.pk, "facts": wanted[host.certname][2], "updated_at": now}
                            for host in new_facts])
    stale = [hosts[name] for name in wanted
             if hosts[name].facts is not None and hosts[name].facts != wanted[name][2]]
    for start in range(0, len(stale), BATCH):
        NodeFacts.objects.bulk_update([NodeFacts(pk=host.facts_pk, facts=wanted[host.certname][2], updated_at=now)
                                       for host in stale[start:start + BATCH]], ["facts", "updated_at"])
    _host_events(source, hosts, wanted, diff, now=now, actor=actor)


def _leave(leaving: dict[int, set[int]]) -> None:
    """Out of the applications' pools, pins and host lists: one statement per application each."""
    through = Host.applications.through
    for app_id, host_ids in leaving.items():
        ids = in_ids(host_ids)
        PoolMember.objects.filter(pool__application_id=app_id, host_id__in=ids).delete()
        Pin.objects.filter(application_id=app_id, host_id__in=ids).delete()
        through.objects.filter(application_id=app_id, host_id__in=ids).delete()


def _join(joining: dict[int, set[int]], source: HostSource) -> None:
    """Into the applications, pinned to the version the environment runs now (read before
    these hosts join, so they do not count in it)."""
    if not joining:
        return
    versions = current_versions(environment=source.environment, application_ids=list(joining))
    rows_insert(Host.applications.through, [{"host_id": pk, "application_id": app}
                                            for app, ids in joining.items() for pk in sorted(ids)])
    rows_insert(Pin, [{"host_id": pk, "application_id": app, "artifact_id": versions[app].pk,
                       "updated_at": timezone.now()}
                      for app, ids in joining.items() if app in versions for pk in sorted(ids)],
                ignore_conflicts=True)


def _fill_pools(source: HostSource, hosts: dict[str, _Host], wanted: dict) -> int:
    """Every host of the source in the pools of its applications in its environment, the
    member named by the pool's template: the hosts that joined an application now, and
    those of a pool created since they did. Two statements; the number of members added."""
    pools = list(Pool.objects.filter(environment=source.environment,
                                     application_id__in={app for apps, _, _ in wanted.values() for app in apps}))
    if not pools:
        return 0
    present = set(PoolMember.objects.filter(pool__in=pools, host__source=source).values_list("pool_id", "host_id"))
    rows = [{"pool_id": pool.pk, "host_id": hosts[name].pk, "member": member_name(pool, name)}
            for pool in pools for name, (apps, _, _) in wanted.items()
            if pool.application_id in apps and (pool.pk, hosts[name].pk) not in present]
    rows_insert(PoolMember, rows, ignore_conflicts=True)
    return len(rows)


def member_name(pool: Pool, certname: str) -> str:
    """The member a host is on the pool's load balancer: "{certname}" or "{hostname}" (the
    certname up to its first dot) in the pool's member_template."""
    return pool.member_template.replace("{certname}", certname).replace("{hostname}", certname.split(".")[0])


def _host_events(source: HostSource, hosts: dict[str, _Host], wanted: dict, diff: SyncDiff, *, now,
                 actor: str) -> None:
    names = {pk: name for name, pk in Application.objects.values_list("name", "pk")}
    rows = []

    def event(verb: str, certname: str, data: dict) -> None:
        rows.append({"created_at": now, "actor": actor, "verb": verb, "object_type": "host",
                     "object_id": str(hosts[certname].pk), "before": "", "after": "", "deployment_id": None,
                     "data": {"source": source.name, **data}})

    for certname in diff.created:
        event("host.create", certname, {"environment": source.environment.name,
                                        "applications": sorted(names[a] for a in wanted[certname][0])})
    for certname in diff.reactivated:
        event("host.reactivate", certname, {"applications": sorted(names[a] for a in wanted[certname][0])})
    for certname in diff.updated:
        host, (apps, labels, facts) = hosts[certname], wanted[certname]
        changes = {key: {"before": before, "after": after} for key, before, after in (
            ("applications", sorted(names[a] for a in host.apps), sorted(names[a] for a in apps)),
            ("labels", host.labels, labels), ("facts", host.facts, facts)) if before != after}
        event("host.update", certname, changes)
    for certname in diff.retired:
        event("host.retire", certname, {"applications": sorted(names[a] for a in hosts[certname].apps),
                                        "reason": "gone from the source's PuppetDB query or deactivated"})
    rows_insert(Event, rows)


def _event_data(diff: SyncDiff) -> dict:
    def listed(names: list[str]) -> list[str]:
        extra = len(names) - EVENT_NAMES_MAX
        return names[:EVENT_NAMES_MAX] + ([f"… and {extra} more"] if extra > 0 else [])

    return {"counts": diff.counts, **{kind: listed(getattr(diff, kind)) for kind in (
        "created", "reactivated", "updated", "retired", "retire_waiting", "clashes", "warnings")}}


def _in_texts(values: list[str]):
    """The right-hand side of `field__in=` for a long list of strings: one array parameter on
    PostgreSQL (as rows.in_ids does for ids), the list itself elsewhere."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::text[])", [list(values)])
    return list(values)


def sources_claim_due(*, now=None) -> list[int]:
    """Ids of the enabled sources whose sync is due, each claimed by moving its next sync one
    interval on with a compare-and-set: two schedulers or workers never sync one twice."""
    now = now or timezone.now()
    claimed = []
    for pk, at, interval in HostSource.objects.filter(enabled=True, next_sync_at__lte=now).values_list(
            "pk", "next_sync_at", "interval_s"):
        if HostSource.objects.filter(pk=pk, next_sync_at=at).update(
                next_sync_at=now + timedelta(seconds=interval)) == 1:
            claimed.append(pk)
    return claimed
