"""How a deployment rolls out (batch size, canary, pauses, failure budget, timeouts, retries)
and the plan: the batches of hosts, computed once and frozen at start."""

import math
import re
from dataclasses import asdict, dataclass, fields

from orbiter.common.errors import ValidationError

_COUNT = re.compile(r"^(\d{1,6})(%?)$")
UNTIL_RESUMED = "until-resumed"


def _count(field: str, value, *, allow_zero: bool) -> str:
    text = str(value).strip()
    match = _COUNT.match(text)
    if not match or (match.group(2) and not 0 <= int(match.group(1)) <= 100):
        raise ValidationError(
            f"{field}: {value!r} is not allowed; give a number of hosts (e.g. 3) or a percentage (e.g. 25%)",
            field=field,
        )
    if not allow_zero and int(match.group(1)) == 0:
        raise ValidationError(f"{field}: must be at least 1 host or 1%", field=field)
    return text


def resolve_count(spec: str, total: int, *, minimum: int) -> int:
    """'3' -> 3; '25%' of 10 hosts -> 3 (rounded up for batches, down for budgets via minimum=0)."""
    if spec.endswith("%"):
        share = int(spec[:-1]) * total / 100
        value = math.ceil(share) if minimum else math.floor(share)
    else:
        value = int(spec)
    return max(minimum, value)


@dataclass(frozen=True)
class Strategy:
    batch_size: str = "1"
    canary: bool = False
    canary_pause: bool = False
    pause_between_batches: str = "0"  # seconds, or "until-resumed"
    failure_budget: str = "0"  # hosts allowed to fail: count or percentage
    max_attempts: int = 3  # per step, for transient failures
    retry_backoff_s: float = 2.0  # doubled at each attempt
    drain_timeout_s: float = 30.0
    converge_timeout_s: float = 900.0
    verify_timeout_s: float = 60.0
    enable_timeout_s: float = 60.0
    auto_rollback: bool = False

    @classmethod
    def parse(cls, data: dict | None, *, defaults: dict | None = None) -> "Strategy":
        """Validate user input over the application's defaults; unknown keys are refused."""
        merged = {**(defaults or {}), **(data or {})}
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(merged) - set(known))
        if unknown:
            raise ValidationError(
                f"strategy: unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(known)}",
                field="strategy",
            )
        values = {}
        for name, value in merged.items():
            kind = known[name].type
            if name == "batch_size":
                values[name] = _count(name, value, allow_zero=False)
            elif name == "failure_budget":
                values[name] = _count(name, value, allow_zero=True)
            elif name == "pause_between_batches":
                values[name] = _pause(value)
            elif kind in ("bool", bool):
                values[name] = _bool(name, value)
            elif kind in ("int", int):
                number = _number(name, value, low=1, high=20)
                if number != int(number):
                    raise ValidationError(f"{name}: {value!r} is not allowed; give a whole number from 1 to 20", field=name)
                values[name] = int(number)
            else:
                values[name] = _number(name, value, low=0, high=86400)
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def pause_until_resumed(self) -> bool:
        return self.pause_between_batches == UNTIL_RESUMED

    @property
    def pause_seconds(self) -> float:
        return 0.0 if self.pause_until_resumed else float(self.pause_between_batches)

    def budget(self, total_hosts: int) -> int:
        return resolve_count(self.failure_budget, total_hosts, minimum=0)

    def timeout(self, step: str) -> float:
        return {
            "draining": self.drain_timeout_s,
            "converging": self.converge_timeout_s,
            "verifying": self.verify_timeout_s,
            "enabling": self.enable_timeout_s,
        }[step]


def _pause(value) -> str:
    text = str(value).strip()
    if text == UNTIL_RESUMED:
        return text
    if re.fullmatch(r"\d{1,5}", text):
        return text
    raise ValidationError(
        f"pause_between_batches: {value!r} is not allowed; give seconds (e.g. 30) or '{UNTIL_RESUMED}'",
        field="pause_between_batches",
    )


def _bool(field: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValidationError(f"{field}: {value!r} is not allowed; give true or false", field=field)


def _number(field: str, value, *, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not low <= number <= high:
        raise ValidationError(f"{field}: {value!r} is not allowed; give a number from {low:g} to {high:g}", field=field)
    return number


def make_plan(host_ids: list[int], strategy: Strategy) -> list[list[int]]:
    """Split hosts (already in rollout order) into batches.

    1. With `canary`, the first batch is a single host.
    2. The remaining hosts go in batches of `batch_size` (a percentage is of all hosts,
       rounded up, at least one).
    """
    if not host_ids:
        return []
    size = resolve_count(strategy.batch_size, len(host_ids), minimum=1)
    batches = []
    rest = list(host_ids)
    if strategy.canary:
        batches.append(rest[:1])
        rest = rest[1:]
    batches.extend(rest[i : i + size] for i in range(0, len(rest), size))
    return batches
