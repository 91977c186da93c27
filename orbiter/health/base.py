"""Health checks run from the control plane after a host converged, before it is enabled.

A driver's `check(certname, version)` returns a short description on success and raises
DriverError (transient: retried with backoff; permanent: the host fails) otherwise.
"""

from orbiter.common.registry import Registry


class HealthCheck:
    name = ""
    quick = False  # see LoadBalancer.quick

    def __init__(self, options: dict):
        self.options = options

    def check(self, certname: str, version: str) -> str:
        raise NotImplementedError


registry = Registry(
    "health",
    {
        "none": "orbiter.health.drivers:NoHealthCheck",
        "simulated": "orbiter.health.drivers:SimulatedHealthCheck",
        "http": "orbiter.health.drivers:HttpHealthCheck",
    },
)


def driver_for(application) -> HealthCheck:
    return registry.get(application.health_driver)(application.health_options)
