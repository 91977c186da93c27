"""The load-balancer driver interface. A driver fills in disable, enable and state."""

from dataclasses import dataclass

from orbiter.common.registry import Registry

UP, DRAIN, DOWN = "up", "drain", "down"


@dataclass(frozen=True)
class MemberState:
    admin: str  # up | drain | down
    connections: int
    health: str  # up | down | unknown, as the load balancer sees it


class LoadBalancer:
    name = ""

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


registry = Registry(
    "loadbalancer",
    {
        "none": "orbiter.loadbalancers.drivers.none:NoLoadBalancer",
        "simulated": "orbiter.loadbalancers.drivers.simulated:SimulatedLoadBalancer",
    },
)


def driver_for(pool) -> LoadBalancer:
    return registry.get(pool.driver)(pool.name, pool.options)
