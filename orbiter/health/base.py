"""Health checks run from the control plane after a host converged, before it is enabled.

A driver's `check(certname, version)` returns a short description on success and raises
DriverError (transient: retried with backoff; permanent: the host fails) otherwise.

Options are checked when the driver is built: a bad or unknown one is a ValidationError
naming it (`field` = `options.<name>`). `validate_options()` is that check on its own, for
the service that saves an application; `driver_for()` (the engine's entry point) turns a
misconfiguration into a check that fails permanently with the same message, so a person
reads it on the host instead of the engine's round failing.

Drivers that probe the network (`http`, `tcp`) share `attempts()`: `retries` more tries after
the first, `retry_delay_s` apart, each bounded by `timeout_s`. Those retries ride out a
backend that is still starting; the engine's own retries (`max_attempts`, with backoff) come
on top.
"""

import time
from collections.abc import Callable

from orbiter.common.errors import DriverError, OrbiterError, ValidationError
from orbiter.common.registry import Registry

MAX_TIMEOUT_S = 60.0
MAX_RETRIES = 10
MAX_RETRY_DELAY_S = 10.0


class HealthCheck:
    name = ""
    quick = False  # see LoadBalancer.quick
    options_allowed: tuple[str, ...] = ()  # the options the driver takes; others are refused
    any_options = False  # the simulated and none drivers take what they are given

    def __init__(self, options: dict):
        if not isinstance(options, dict):
            raise ValidationError(
                f"{self.name} health check: options must be an object", field="health_options"
            )
        if not self.any_options:
            unknown = sorted(set(options) - set(self.options_allowed))
            if unknown:
                raise self.invalid(
                    unknown[0],
                    f"is not an option of the {self.name} health check; allowed: "
                    f"{', '.join(sorted(self.options_allowed))}",
                )
        self.options = options

    def check(self, certname: str, version: str) -> str:
        raise NotImplementedError

    # --- helpers for drivers ------------------------------------------------------------------

    def invalid(self, option: str, problem: str) -> ValidationError:
        return ValidationError(
            f"{self.name} health check: option `{option}` {problem}", field=f"options.{option}"
        )

    def number(self, option: str, default: float, *, low: float, high: float,
               low_included: bool = False) -> float:
        value = self.options.get(option, default)
        above = "at least" if low_included else "above"
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (value >= low if low_included else value > low)
            or value > high
        ):
            raise self.invalid(option, f"must be a number {above} {low:g} and at most {high:g}, not {value!r}")
        return float(value)

    def integer(self, option: str, default: int | None, *, low: int, high: int) -> int:
        value = self.options.get(option, default)
        if value is None:
            raise self.invalid(option, f"is required: a whole number from {low} to {high}")
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.invalid(option, f"must be a whole number from {low} to {high}, not {value!r}")
        return value

    def retry_options(self) -> tuple[float, int, float]:
        """timeout_s (default 5), retries (default 2), retry_delay_s (default 0.5)."""
        return (
            self.number("timeout_s", 5, low=0, high=MAX_TIMEOUT_S),
            self.integer("retries", 2, low=0, high=MAX_RETRIES),
            self.number("retry_delay_s", 0.5, low=0, high=MAX_RETRY_DELAY_S, low_included=True),
        )


def attempts(probe: Callable[[], str], *, retries: int, delay_s: float,
             sleep: Callable[[float], None] = time.sleep) -> str:
    """Run probe() until it passes, at most 1 + retries times, delay_s apart. A permanent
    DriverError stops at once; the last error is raised with the number of tries."""
    for attempt in range(1, retries + 2):
        try:
            return probe()
        except DriverError as error:
            if error.permanent or attempt > retries:
                tries = f" (after {attempt} tries)" if attempt > 1 else ""
                raise DriverError(f"{error.message}{tries}", permanent=error.permanent) from error
        sleep(delay_s)
    raise AssertionError("unreachable")


class MisconfiguredHealthCheck(HealthCheck):
    """Stands in for a driver whose name or options are wrong: every check fails permanently
    with the validation message, so the host is failed, named, and stays out of service."""

    any_options = True

    def __init__(self, driver: str, error: OrbiterError):
        super().__init__({})
        self.name, self.error = driver, error

    def check(self, certname: str, version: str) -> str:
        raise DriverError(f"health check misconfigured: {self.error.message}", permanent=True)


registry = Registry(
    "health",
    {
        "none": "orbiter.health.drivers:NoHealthCheck",
        "simulated": "orbiter.health.drivers:SimulatedHealthCheck",
        "http": "orbiter.health.http:HttpHealthCheck",
        "tcp": "orbiter.health.tcp:TcpHealthCheck",
    },
)


def validate_options(driver: str, options: dict) -> None:
    """Raise ValidationError (naming the field) if `driver` with `options` cannot be built."""
    registry.get(driver)(options)


def driver_for(application) -> HealthCheck:
    try:
        return registry.get(application.health_driver)(application.health_options)
    except OrbiterError as error:
        return MisconfiguredHealthCheck(application.health_driver, error)
