"""A load balancer that exists only in the database.

Options: `connections` (open connections a member has when drained, default 0) and
`drain_seconds` (how long they take to close, default 0); `fail_members` (members whose
calls fail permanently) for tests of failure handling.
"""

from django.utils import timezone

from orbiter.common.errors import DriverError
from orbiter.loadbalancers.base import DOWN, DRAIN, UP, LoadBalancer, MemberState
from orbiter.loadbalancers.models import SimulatedMemberState


class SimulatedLoadBalancer(LoadBalancer):
    name = "simulated"

    def _set(self, member: str, admin: str) -> None:
        if member in self.options.get("fail_members", []):
            raise DriverError(f"simulated load balancer refuses member {member}", permanent=True)
        row, created = SimulatedMemberState.objects.get_or_create(
            pool=self.pool_name, member=member, defaults={"admin": admin}
        )
        if not created and row.admin != admin:
            SimulatedMemberState.objects.filter(pk=row.pk).update(admin=admin, changed_at=timezone.now())

    def disable(self, member: str) -> None:
        self._set(member, DRAIN)

    def enable(self, member: str) -> None:
        self._set(member, UP)

    def state(self, member: str) -> MemberState:
        row = SimulatedMemberState.objects.filter(pool=self.pool_name, member=member).first()
        if row is None:
            return MemberState(admin=UP, connections=int(self.options.get("connections", 0)), health=UP)
        connections = int(self.options.get("connections", 0))
        if row.admin in (DRAIN, DOWN):
            elapsed = (timezone.now() - row.changed_at).total_seconds()
            if elapsed >= float(self.options.get("drain_seconds", 0)):
                connections = 0
        return MemberState(admin=row.admin, connections=connections, health=UP)
