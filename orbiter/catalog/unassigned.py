"""Hosts whose agent enrolled before anyone listed them. An anonymous key offer under a
certname Orbiter does not know is kept as an UnassignedHost for an admin to assign (the
Host is created, the offered key becomes its pending key) or reject (later offers under
that certname change nothing). What an anonymous caller can do to the table is bounded:

1. at most CAP rows (rejected ones included); a new certname beyond it is dropped and
   logged, at most 10 lines a minute;
2. the first key offered for a certname stays: a second offer with another key changes
   nothing (it is logged, bounded), so nobody can swap the key an admin is about to read;
3. a repeated offer of the same key moves `last_seen_at` and `attempts` on one row;
4. the answer to the agent is "pending" in every case (the caller learns nothing).

Creating a Host by any path (host_create, an inventory sync calling unassigned_claim for its
batch) takes the row's key as the host's pending key and removes the row."""

import logging
import secrets

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from orbiter.audit.services import event_record
from orbiter.catalog.models import Application, Environment, Host, UnassignedHost
from orbiter.common.errors import Conflict, NotFound, OrbiterError
from orbiter.common.quiet_log import QuietLog

log = logging.getLogger("orbiter.catalog.unassigned")

CAP = 1000  # rows; a flood of made-up certnames stops here


_quiet = QuietLog(log, "unassigned hosts: %s more offers in the last minute (not logged one by one)")


def unassigned_offer(*, certname: str, public_key: str) -> None:
    """Record an anonymous offer under a certname no host has (`public_key` normalized by the
    caller). Never raises for what the caller sent: the answer must not depend on it."""
    now = timezone.now()
    same_key = UnassignedHost.objects.filter(certname=certname, public_key=public_key)
    if same_key.update(last_seen_at=now, attempts=F("attempts") + 1):
        return
    if UnassignedHost.objects.filter(certname=certname).exists():
        _quiet.warning("other_key", "unassigned host %s offered another key; the first one (%s) stays",
                       certname, _fingerprint(UnassignedHost.objects.get(certname=certname).public_key))
        return
    if UnassignedHost.objects.count() >= CAP:
        _quiet.warning("full", "unassigned host %s dropped: %d certnames are already waiting (the cap); "
                       "reject or forget some (orbiter hosts unassigned)", certname, CAP)
        return
    try:
        with transaction.atomic():
            UnassignedHost.objects.create(certname=certname, public_key=public_key, first_seen_at=now,
                                          last_seen_at=now)
    except IntegrityError:  # the same certname, offered at the same moment: the first insert wins
        same_key.update(last_seen_at=now, attempts=F("attempts") + 1)
        return
    if Host.objects.filter(certname=certname).exists():
        # The host was created (and its claim ran) between the caller's look-up and this
        # insert: hand the key over now rather than leave a row for an existing host.
        unassigned_claim([certname])


def unassigned_claim(certnames) -> dict[str, str]:
    """Hosts were just created for these certnames (best called in the transaction that created
    them): each unrejected row's key becomes its host's pending key, unless the host already
    has a key; every row for these certnames goes. Returns {certname: key taken}. One query
    when none of them had offered (the usual case), whatever the batch size."""
    with transaction.atomic(savepoint=False):  # its own transaction when called outside one
        return _claim(list(certnames))


def _claim(names: list[str]) -> dict[str, str]:
    rows = list(UnassignedHost.objects.select_for_update().filter(certname__in=names))
    if not rows:
        return {}
    taken = {}
    hosts = {host.certname: host for host in Host.objects.filter(certname__in=[row.certname for row in rows])}
    for row in rows:
        host = hosts.get(row.certname)
        if host is None or row.rejected_at is not None:
            continue
        if Host.objects.filter(pk=host.pk, agent_key_pending="", agent_public_key="").update(
                agent_key_pending=row.public_key):
            taken[row.certname] = row.public_key
            event_record(actor=row.certname, verb="agent.offer_key", obj=host,
                         data={"fingerprint": _fingerprint(row.public_key), "offered_at": row.first_seen_at.isoformat(),
                               "from": "unassigned"})
    UnassignedHost.objects.filter(pk__in=[row.pk for row in rows if row.certname in hosts]).delete()
    return taken


def unassigned_assign(*, certname: str, environment: str, applications: list[str], actor: str,
                      labels: dict | None = None, expected_fingerprint: str = "") -> Host:
    """Create the Host for a waiting certname (catalog.services.host_create, which takes the
    offered key as pending), in the environment and with the applications named. With the
    fingerprint read on the host itself, the key is trusted at once (as `orbiter agents
    approve`); without it, it stays pending for that check."""
    from orbiter.catalog.agents import agent_key_approve
    from orbiter.catalog.services import host_create

    row = _waiting(certname)
    environment, applications = _environment(environment), _applications(applications)
    if expected_fingerprint and not secrets.compare_digest(_fingerprint(row.public_key), expected_fingerprint.strip()):
        raise OrbiterError(f"fingerprint mismatch for {certname}: the offered key is {_fingerprint(row.public_key)}; "
                           "refusing (nothing created)")
    with transaction.atomic():
        host = host_create(certname=certname, environment=environment, applications=applications, actor=actor,
                           labels=labels)
        if expected_fingerprint:
            agent_key_approve(certname=certname, expected_fingerprint=expected_fingerprint, actor=actor)
    return host


def unassigned_reject(*, certname: str, actor: str) -> UnassignedHost:
    """Keep the row as rejected: later offers under the certname change nothing."""
    row = _row(certname)
    with transaction.atomic():
        if not UnassignedHost.objects.filter(pk=row.pk, rejected_at__isnull=True).update(
                rejected_at=timezone.now(), rejected_by=actor):
            raise Conflict(f"{certname} is already rejected")
        event_record(actor=actor, verb="unassigned.reject", obj=row, data={"certname": certname,
                                                                           "fingerprint": _fingerprint(row.public_key)})
    row.refresh_from_db()
    return row


def unassigned_unreject(*, certname: str, actor: str) -> UnassignedHost:
    """Undo a rejection: the certname waits again, with the key it first offered."""
    row = _row(certname)
    with transaction.atomic():
        if not UnassignedHost.objects.filter(pk=row.pk, rejected_at__isnull=False).update(
                rejected_at=None, rejected_by=""):
            raise Conflict(f"{certname} is not rejected")
        event_record(actor=actor, verb="unassigned.unreject", obj=row, data={"certname": certname})
    row.refresh_from_db()
    return row


def unassigned_forget(*, certname: str, actor: str) -> None:
    """Remove the row (rejected or not): room under the cap; its next offer starts afresh."""
    row = _row(certname)
    with transaction.atomic():
        event_record(actor=actor, verb="unassigned.forget", obj=row,
                     data={"certname": certname, "fingerprint": _fingerprint(row.public_key),
                           "rejected": row.rejected_at is not None})
        UnassignedHost.objects.filter(pk=row.pk).delete()


def unassigned_list(*, rejected: bool | None = None) -> list[UnassignedHost]:
    """The rows, each with `.fingerprint`; a certname that has become a Host meanwhile is left out."""
    rows = UnassignedHost.objects.exclude(certname__in=Host.objects.values("certname")).order_by("certname")
    if rejected is not None:
        rows = rows.filter(rejected_at__isnull=not rejected)
    found = list(rows)
    for row in found:
        row.fingerprint = _fingerprint(row.public_key)
    return found


def _environment(name: str) -> Environment:
    env = Environment.objects.filter(name=name).first() if name else None
    if env is None:
        known = ", ".join(Environment.objects.values_list("name", flat=True)) or "none yet"
        what = f"unknown {name!r}" if name else "give the environment the host joins"
        raise NotFound(f"environment: {what}; known: {known}", field="environment")
    return env


def _applications(names: list[str]) -> list[Application]:
    found = {app.name: app for app in Application.objects.filter(name__in=names)}
    missing = [name for name in names if name not in found]
    if missing:
        known = ", ".join(Application.objects.values_list("name", flat=True)) or "none yet"
        raise NotFound(f"applications: unknown {missing[0]!r}; known: {known}", field="applications")
    return [found[name] for name in dict.fromkeys(names)]


def _row(certname: str) -> UnassignedHost:
    row = UnassignedHost.objects.filter(certname=certname).first()
    if row is None:
        raise NotFound(f"no unassigned host {certname!r}; see `orbiter hosts unassigned`", field="certname")
    return row


def _waiting(certname: str) -> UnassignedHost:
    row = _row(certname)
    if row.rejected_at is not None:
        raise Conflict(f"{certname} was rejected by {row.rejected_by or 'someone'} on "
                       f"{row.rejected_at:%Y-%m-%d %H:%M} UTC; unreject it first (orbiter hosts unreject {certname})")
    return row


def _fingerprint(public_key: str) -> str:
    from orbiter.catalog.agents import fingerprint

    return fingerprint(public_key)
