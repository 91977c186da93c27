from orbiter.loadbalancers.base import UP, LoadBalancer, MemberState


class NoLoadBalancer(LoadBalancer):
    """For hosts behind no load balancer: every call succeeds and nothing changes."""

    name = "none"
    quick = True

    def disable(self, member: str) -> None:
        pass

    def enable(self, member: str) -> None:
        pass

    def state(self, member: str) -> MemberState:
        return MemberState(admin=UP, connections=0, health="unknown")
