"""The only code that changes a status: compare-and-set plus an audit Event, in one transaction.

Callers wrap these in `transaction.atomic()` together with the rest of their change and
run side effects with `transaction.on_commit`, so nothing outward happens for a change
that did not commit.
"""

import contextlib
from contextvars import ContextVar

from django.db import transaction
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.common.errors import Conflict
from orbiter.deployments import signals, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.deployments.rows import in_ids, rows_insert

# While the engine runs a round, Events are collected here and inserted in one statement
# at the end of the round, inside its transaction, in the order the transitions happened.
_pending_events: ContextVar[list | None] = ContextVar("pending_events", default=None)


@contextlib.contextmanager
def events_batched():
    """Collect the Events of the transitions made inside; insert them all on exit. Use it
    inside the transaction that makes the transitions."""
    token = _pending_events.set([])
    try:
        yield
        events_insert(_pending_events.get())
    finally:
        _pending_events.reset(token)


# While the engine runs a round, host writes are held here (host deployment id -> [the
# object, the status it had in the database, the fields changed since]) and made by
# `hosts_flush()`: a host that goes converging -> verifying -> enabling -> done in one round
# is written once, with a compare-and-set on `converging`.
_pending_hosts: ContextVar[dict | None] = ContextVar("pending_hosts", default=None)


@contextlib.contextmanager
def hosts_batched():
    """Hold the host writes made inside (transitions and `hosts_update`) and make them on
    exit, one UPDATE per group of hosts with the same stored status and the same new
    values. Whoever reads host statuses from the database inside must call
    `hosts_flush()` first. Use it inside the transaction that makes the transitions; a
    savepoint rolled back inside does not take its held writes (or Events) with it, so code
    run inside refuses before it changes anything, as the services do."""
    token = _pending_hosts.set({})
    try:
        yield
        hosts_flush()
    finally:
        _pending_hosts.reset(token)


def hosts_flush() -> None:
    """Write the held host changes (a no-op outside `hosts_batched`)."""
    pending = _pending_hosts.get()
    if not pending:
        return
    groups: dict[tuple, tuple[str, dict, list[int]]] = {}
    for pk, (_, stored, changes) in pending.items():
        groups.setdefault((stored, _values_key(changes)), (stored, changes, []))[2].append(pk)
    pending.clear()
    for stored, changes, ids in groups.values():
        updated = HostDeployment.objects.filter(pk__in=in_ids(ids), status=stored).update(**changes)
        if updated != len(ids):
            raise Conflict(f"{len(ids) - updated} host(s) changed meanwhile")


def _values_key(changes: dict):
    """A key equal for equal `changes`: the items themselves when hashable (statuses, times,
    numbers: hashing them is ~20 times cheaper than a repr), else their repr (a JSON outcome)."""
    items = tuple(sorted(changes.items()))
    try:
        hash(items)
    except TypeError:
        return repr(items)
    return items


def hosts_update(hosts: list[HostDeployment], **changes) -> None:
    """Change fields of hosts (not their status: that is `transition_hosts`), in memory and
    in the database: at once, or held for `hosts_flush()` inside `hosts_batched`."""
    if not hosts:
        return
    pending = _pending_hosts.get()
    for hd in hosts:
        for name, value in changes.items():
            setattr(hd, name, value)
        if pending is not None:
            pending.setdefault(hd.pk, [hd, hd.status, {}])[2].update(changes)
    if pending is None:
        HostDeployment.objects.filter(pk__in=in_ids(hd.pk for hd in hosts)).update(**changes)


def _emit(events: list[dict]) -> None:
    pending = _pending_events.get()
    if pending is None:
        events_insert(events)
    else:
        pending.extend(events)


def events_insert(events: list[dict]) -> None:
    """Insert Events (dicts of their fields) in order, in one statement."""
    rows_insert(Event, events)


# Timestamps the transitions stamp, Shipit-style.
_STAMPS = {
    states.RUNNING: "started_at",
    states.SUCCEEDED: "finished_at",
    states.FAILED: "finished_at",
    states.CANCELLED: "finished_at",
    states.REJECTED: "finished_at",
    states.ROLLED_BACK: "finished_at",
}


def transition_deployment(
    deployment: Deployment, event: str, *, actor: str, data: dict | None = None, **changes
) -> Deployment:
    """Move `deployment` by `event`; raise IllegalTransition or Conflict (someone moved it first)."""
    new = states.target("deployment", deployment.status, event)
    now = timezone.now()
    changes["updated_at"] = now
    stamp = _STAMPS.get(new)
    if stamp and (stamp == "finished_at" or getattr(deployment, stamp) is None):
        changes[stamp] = now
    if new not in states.COMPLETED and deployment.finished_at is not None:
        changes["finished_at"] = None  # running again (retry, rollback)
    with transaction.atomic(savepoint=False):
        updated = Deployment.objects.filter(pk=deployment.pk, status=deployment.status).update(
            status=new, **changes
        )
        if updated != 1:
            raise Conflict(f"deployment #{deployment.pk} changed meanwhile; reload and try again")
        _emit([{
            "created_at": now,
            "actor": actor,
            "verb": f"deployment.{event}",
            "object_type": "deployment",
            "object_id": str(deployment.pk),
            "before": deployment.status,
            "after": new,
            "deployment_id": deployment.pk,
            "data": data or {},
        }])
    before = deployment.status
    deployment.status = new
    for name, value in changes.items():
        setattr(deployment, name, value)
    transaction.on_commit(lambda: signals.send(
        signals.deployment_transitioned, deployment=deployment, event=event, before=before, after=new, actor=actor))
    return deployment


def transition_hosts(
    hosts: list[HostDeployment], event: str, *, actor: str, data: dict | None = None, per_host=None, **changes
) -> list[HostDeployment]:
    """Move several hosts of one deployment by the same event, one UPDATE per source status
    (inside `hosts_batched`, held and merged with the host's other writes of the round).

    The caller holds the deployment's row lock, so a lost compare-and-set here means a bug
    or a second engine without the lock: it raises Conflict and the transaction rolls back.
    `per_host(hd)` adds host-specific data to that host's Event (called before the move).
    """
    if not hosts:
        return hosts
    now = timezone.now()
    by_status: dict[str, list[HostDeployment]] = {}
    for hd in hosts:
        by_status.setdefault(hd.status, []).append(hd)
    new_status = {old: states.target("host", old, event) for old in by_status}
    pending = _pending_hosts.get()
    events = []
    with transaction.atomic(savepoint=False):
        for old, group in by_status.items():
            new = new_status[old]
            stamp = {"finished_at": now} if new in states.HOST_TERMINAL else {}
            if pending is None:
                updated = HostDeployment.objects.filter(pk__in=in_ids(hd.pk for hd in group), status=old).update(
                    status=new, **changes, **stamp
                )
                if updated != len(group):
                    raise Conflict(
                        f"{len(group) - updated} host(s) changed meanwhile in deployment #{group[0].deployment_id}")
            else:
                for hd in group:
                    pending.setdefault(hd.pk, [hd, old, {}])[2].update(status=new, **changes, **stamp)
            for hd in group:
                events.append({
                    "created_at": now,
                    "actor": actor,
                    "verb": f"host.{event}",
                    "object_type": "hostdeployment",
                    "object_id": str(hd.pk),
                    "before": old,
                    "after": new,
                    "deployment_id": hd.deployment_id,
                    "data": {
                        "host": _certname(hd),
                        **(data or {}),
                        **(per_host(hd) if per_host else {}),
                    },
                })
                hd.status = new
                for name, value in {**changes, **stamp}.items():
                    setattr(hd, name, value)
        _emit(events)
    return hosts


def _certname(hd: HostDeployment) -> str | int:
    """The host's name when it is at hand (annotated by the engine, or a loaded relation),
    else its id: a transition never costs a query per host."""
    certname = getattr(hd, "certname", None)
    if certname is not None:
        return certname
    return hd.host.certname if HostDeployment.host.is_cached(hd) else hd.host_id
