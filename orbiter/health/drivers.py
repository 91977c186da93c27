"""The health checks without a network: `none` and `simulated` (for tests and the demo).
The probing ones are `http` (orbiter/health/http.py) and `tcp` (orbiter/health/tcp.py)."""

from orbiter.common.errors import DriverError
from orbiter.health.base import HealthCheck


class NoHealthCheck(HealthCheck):
    name = "none"
    quick = True
    any_options = True

    def check(self, certname: str, version: str) -> str:
        return "no health check configured"


class SimulatedHealthCheck(HealthCheck):
    """Healthy unless the host is listed in `unhealthy_hosts`."""

    name = "simulated"
    quick = True
    any_options = True

    def check(self, certname: str, version: str) -> str:
        if certname in self.options.get("unhealthy_hosts", []):
            raise DriverError(f"{certname}: simulated health check fails")
        return "simulated health check passed"
