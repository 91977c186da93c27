"""A load balancer that exists only in the database (so every worker sees the same state).

Options: `connections` (open connections a member has when drained, default 0) and
`drain_seconds` (how long they take to close, default 0); `fail_members` (members whose
calls fail permanently) and `unhealthy_members` (whose health check on the load balancer
fails) for tests of failure handling.
"""

from django.utils import timezone

from orbiter.common.errors import DriverError
from orbiter.loadbalancers.base import DOWN, DRAIN, UP, LoadBalancer, MemberState
from orbiter.loadbalancers.models import SimulatedMemberState


class SimulatedLoadBalancer(LoadBalancer):
    name = "simulated"
    quick = True

    def disable(self, member: str) -> None:
        self._set([member], DRAIN)

    def enable(self, member: str) -> None:
        self._set([member], UP)

    def state(self, member: str) -> MemberState:
        if member in self.options.get("fail_members", []):
            raise DriverError(f"simulated load balancer refuses member {member}", permanent=True)
        return self._states([member])[member]

    def drain_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        return self._batch(members, DRAIN)

    def restore_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        return self._batch(members, UP)

    def states_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        refused = set(self.options.get("fail_members", []))
        errors = {m: DriverError(f"simulated load balancer refuses member {m}", permanent=True)
                  for m in members if m in refused}
        return {**self._states([m for m in members if m not in refused]), **errors}

    def _batch(self, members: list[str], admin: str) -> dict[str, MemberState | DriverError]:
        refused = set(self.options.get("fail_members", []))
        errors = {m: DriverError(f"simulated load balancer refuses member {m}", permanent=True)
                  for m in members if m in refused}
        good = [m for m in members if m not in refused]
        self._set(good, admin)
        return {**self._states(good), **errors}

    def _set(self, members: list[str], admin: str) -> None:
        for member in members:
            if member in self.options.get("fail_members", []):
                raise DriverError(f"simulated load balancer refuses member {member}", permanent=True)
        now = timezone.now()
        SimulatedMemberState.objects.bulk_create(
            [SimulatedMemberState(pool=self.pool_name, member=m, admin=admin, changed_at=now) for m in members],
            ignore_conflicts=True,
        )
        SimulatedMemberState.objects.filter(pool=self.pool_name, member__in=members).exclude(admin=admin).update(
            admin=admin, changed_at=now
        )

    def _states(self, members: list[str]) -> dict[str, MemberState]:
        connections = int(self.options.get("connections", 0))
        drain_seconds = float(self.options.get("drain_seconds", 0))
        now = timezone.now()
        rows = {r.member: r for r in SimulatedMemberState.objects.filter(pool=self.pool_name, member__in=members)}
        states = {}
        for member in members:
            row = rows.get(member)
            admin = row.admin if row else UP
            left = connections
            if row and admin in (DRAIN, DOWN) and (now - row.changed_at).total_seconds() >= drain_seconds:
                left = 0
            health = "down" if member in self.options.get("unhealthy_members", []) else UP
            states[member] = MemberState(admin=admin, connections=left, health=health)
        return states
