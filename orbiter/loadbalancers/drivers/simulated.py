"""A load balancer that exists only in the database (so every worker sees the same state).

Options: `connections` (open connections a member has when drained, default 0) and
`drain_seconds` (how long they take to close, default 0); `fail_members` (members whose
calls fail permanently) and `unhealthy_members` (whose health check on the load balancer
fails) for tests of failure handling.

A member without a row is up. A batch call (`drain_many`, `restore_many`) is one statement
on PostgreSQL and SQLite: an upsert that inserts the missing rows, changes the rows in
another admin state (stamping `changed_at`) and returns the members it wrote. The answer is
computed from that: every member given now has the admin state asked for; one the call
wrote changed just now, so its connections are still open unless `drain_seconds` is 0. Only
a drain of members that were already drained, with `connections` set, reads their
`changed_at` back (a second statement). `states_many` is one read.
"""

import json
from datetime import datetime

from django.db import connection
from django.utils import timezone

from orbiter.common.errors import DriverError
from orbiter.loadbalancers.base import DOWN, DRAIN, UP, LoadBalancer, MemberState
from orbiter.loadbalancers.models import SimulatedMemberState


class SimulatedLoadBalancer(LoadBalancer):
    name = "simulated"
    quick = True

    def disable(self, member: str) -> None:
        self._refuse([member])
        self._write([member], DRAIN)

    def enable(self, member: str) -> None:
        self._refuse([member])
        self._write([member], UP)

    def state(self, member: str) -> MemberState:
        self._refuse([member])
        return self._states([member])[member]

    def drain_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        return self._batch(members, DRAIN)

    def restore_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        return self._batch(members, UP)

    def states_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        good, errors = self._split(members)
        return {**self._states(good), **errors}

    # --- the batch calls ---------------------------------------------------------------------

    def _split(self, members: list[str]) -> tuple[list[str], dict[str, DriverError]]:
        """The members this load balancer serves (each once, in the order given) and an error
        for each one it refuses (`fail_members`)."""
        refused = set(self.options.get("fail_members", []))
        errors = {m: self._refusal(m) for m in members if m in refused}
        return list(dict.fromkeys(m for m in members if m not in refused)), errors

    def _refuse(self, members: list[str]) -> None:
        refused = set(self.options.get("fail_members", []))
        for member in members:
            if member in refused:
                raise self._refusal(member)

    @staticmethod
    def _refusal(member: str) -> DriverError:
        return DriverError(f"simulated load balancer refuses member {member}", permanent=True)

    def _batch(self, members: list[str], admin: str) -> dict[str, MemberState | DriverError]:
        good, errors = self._split(members)
        now = timezone.now()
        written = self._write(good, admin, now)
        if written is None:  # a database without the upsert: read back what is there now
            return {**self._states(good), **errors}
        # Every member given is in `admin` now, those written since `now`. The row is read
        # only where it tells more: how long a member drained before this call has been
        # drained, which decides whether its `connections` have closed.
        connections, _ = self._drain_options()
        known = {m: (admin, now) for m in good if m in written or admin == UP or not connections}
        return {**self._states(good, known=known), **errors}

    def _write(self, members: list[str], admin: str, now: datetime | None = None) -> set[str] | None:
        """Set `members` to `admin`: insert the rows missing, change those in another state
        (and their `changed_at`), leave the others alone. Returns the members written, or None
        on a database without INSERT … ON CONFLICT … RETURNING (then it does not know)."""
        if not members:
            return set()
        now = now or timezone.now()
        vendor = connection.vendor
        if vendor not in ("postgresql", "sqlite"):
            SimulatedMemberState.objects.bulk_create(
                [SimulatedMemberState(pool=self.pool_name, member=m, admin=admin, changed_at=now) for m in members],
                ignore_conflicts=True,
            )
            SimulatedMemberState.objects.filter(pool=self.pool_name, member__in=members).exclude(
                admin=admin).update(admin=admin, changed_at=now)
            return None
        quote = connection.ops.quote_name
        table = quote(SimulatedMemberState._meta.db_table)
        pool, member, admin_, changed_at = (quote(c) for c in ("pool", "member", "admin", "changed_at"))
        if vendor == "postgresql":
            source, names = "unnest(%s::text[]) AS given(name)", list(members)
            name = "given.name"
        else:
            # "WHERE true": SQLite would otherwise read ON CONFLICT as part of a join.
            source, names = "json_each(%s) WHERE true", json.dumps(members)
            name = "value"
        sql = (
            f"INSERT INTO {table} AS s ({pool}, {member}, {admin_}, {changed_at}) "
            f"SELECT %s, {name}, %s, %s FROM {source} "
            f"ON CONFLICT ({pool}, {member}) DO UPDATE SET {admin_} = excluded.{admin_}, "
            f"{changed_at} = excluded.{changed_at} WHERE s.{admin_} <> excluded.{admin_} "
            f"RETURNING {member}"
        )
        stamp = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.pool_name, admin, stamp, names])
            return {row[0] for row in cursor.fetchall()}

    # --- reads -------------------------------------------------------------------------------

    def _states(self, members: list[str], *,
                known: dict[str, tuple[str, datetime]] | None = None) -> dict[str, MemberState]:
        """Each member's state from `known` (admin, changed_at), or else from its row, read now."""
        connections, drain_seconds = self._drain_options()
        rows = dict(known or {})
        unknown = [m for m in members if m not in rows]
        if unknown:
            rows.update(
                (m, (a, c)) for m, a, c in SimulatedMemberState.objects.filter(
                    pool=self.pool_name, member__in=unknown).values_list("member", "admin", "changed_at")
            )
        unhealthy = set(self.options.get("unhealthy_members", []))
        now = timezone.now()
        states = {}
        for member in members:
            admin, changed_at = rows.get(member, (UP, None))
            left = connections
            if admin in (DRAIN, DOWN) and (now - changed_at).total_seconds() >= drain_seconds:
                left = 0
            states[member] = MemberState(admin=admin, connections=left, health="down" if member in unhealthy else UP)
        return states

    def _drain_options(self) -> tuple[int, float]:
        return int(self.options.get("connections", 0)), float(self.options.get("drain_seconds", 0))
