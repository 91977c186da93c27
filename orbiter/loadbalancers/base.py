"""The load-balancer driver interface.

A driver fills in `disable`, `enable` and `state` for one member. The engine calls the
batch forms, `drain_many`, `restore_many` and `states_many` (a read, for the capacity
budget), whose default loops over members; a driver
that can do a whole batch in one round trip overrides them (the simulated one does).
Errors are DriverError, `permanent` or not, reported per member.
"""

from dataclasses import dataclass

from orbiter.common.errors import DriverError
from orbiter.common.registry import Registry

UP, DRAIN, DOWN = "up", "drain", "down"


@dataclass(frozen=True)
class MemberState:
    admin: str  # up | drain | down
    connections: int
    health: str  # up | down | unknown, as the load balancer sees it


class LoadBalancer:
    name = ""
    # Calls are bounded and fast (no network, or a local socket): the engine may make
    # them while it holds the deployment's lock instead of in a separate step.
    quick = False

    def __init__(self, pool_name: str, options: dict):
        self.pool_name = pool_name
        self.options = options

    def disable(self, member: str) -> None:
        """Stop sending new connections to member (drain); idempotent."""
        raise NotImplementedError

    def enable(self, member: str) -> None:
        """Put member back in service; idempotent."""
        raise NotImplementedError

    def state(self, member: str) -> MemberState:
        raise NotImplementedError

    def states_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        """Each member's state (or the error), changing nothing: the capacity budget's read."""
        return {m: self._guard(lambda m=m: self.state(m)) for m in members}

    def drain_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        """Disable each member and return its state afterwards (or the error)."""
        return {m: self._guard(lambda m=m: (self.disable(m), self.state(m))[1]) for m in members}

    def restore_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        """Enable each member and return its state afterwards (or the error)."""
        return {m: self._guard(lambda m=m: (self.enable(m), self.state(m))[1]) for m in members}

    @staticmethod
    def _guard(call) -> MemberState | DriverError:
        try:
            return call()
        except DriverError as error:
            return error


registry = Registry(
    "loadbalancer",
    {
        "f5": "orbiter.loadbalancers.drivers.f5:F5LoadBalancer",
        "haproxy": "orbiter.loadbalancers.drivers.haproxy:HAProxyLoadBalancer",
        "none": "orbiter.loadbalancers.drivers.none:NoLoadBalancer",
        "simulated": "orbiter.loadbalancers.drivers.simulated:SimulatedLoadBalancer",
    },
)


def driver_for(pool) -> LoadBalancer:
    return registry.get(pool.driver)(pool.name, pool.options)
