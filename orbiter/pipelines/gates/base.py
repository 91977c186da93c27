"""The gate driver seam: what a gate is told (GateContext), what it answers (GateResult),
and the registry of kinds.

A driver validates its options when a pipeline is defined (so a typo is refused then, not
at 3 a.m. after a deployment) and runs one attempt. Retries, timeouts turned into pauses,
leases and recording are the engine's (`orbiter/pipelines/gaterunner.py`), not the driver's.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from orbiter.common.errors import ValidationError
from orbiter.common.registry import Registry

PASSED, FAILED, INCONCLUSIVE, TIMEOUT = "passed", "failed", "inconclusive", "timeout"
OUTPUT_LIMIT = 16_000  # characters of output kept per attempt (the tail)

# Placeholders templates may use: {version} etc. Values are substituted as plain text; no
# attribute access or formatting language (str.format would allow "{x.__class__}").
VARIABLES = ("application", "package", "environment", "version", "nevra", "stage_url", "deployment", "run")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class GateResult:
    outcome: str  # passed | failed | inconclusive | timeout
    message: str = ""
    output: str = ""
    link: str = ""


@dataclass
class GateContext:
    application: str
    package: str
    environment: str
    version: str  # version-release, what users type
    nevra: str
    stage_url: str
    hosts: list[str]
    deployment_id: int | None
    run_id: int
    attempt: int
    timeout_s: float
    state: dict = field(default_factory=dict)  # checkpoint left by an earlier, interrupted attempt
    save_state: Callable[[dict], None] = lambda state: None

    def variables(self) -> dict[str, str]:
        return {
            "application": self.application,
            "package": self.package,
            "environment": self.environment,
            "version": self.version,
            "nevra": self.nevra,
            "stage_url": self.stage_url,
            "deployment": str(self.deployment_id or ""),
            "run": str(self.run_id),
        }

    def environ(self) -> dict[str, str]:
        """What a command gate finds in its environment."""
        return {
            "ORBITER_APPLICATION": self.application,
            "ORBITER_PACKAGE": self.package,
            "ORBITER_ENVIRONMENT": self.environment,
            "ORBITER_VERSION": self.version,
            "ORBITER_NEVRA": self.nevra,
            "ORBITER_STAGE_URL": self.stage_url,
            "ORBITER_HOSTS": " ".join(self.hosts),
            "ORBITER_DEPLOYMENT_ID": str(self.deployment_id or ""),
            "ORBITER_PIPELINE_RUN_ID": str(self.run_id),
            "ORBITER_GATE_ATTEMPT": str(self.attempt),
        }


def render(template: str, values: dict[str, str], *, escape: Callable[[str], str] | None = None) -> str:
    """Substitute {name} placeholders; `escape` transforms each value (re.escape for a regex)."""
    return _PLACEHOLDER.sub(lambda m: (escape or str)(values[m.group(1)]), template)


def check_template(field_name: str, value, *, extra: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{field_name}: give a non-empty string", field=field_name)
    allowed = VARIABLES + extra
    for name in _PLACEHOLDER.findall(value):
        if name not in allowed:
            raise ValidationError(
                f"{field_name}: unknown placeholder {{{name}}}; allowed: "
                + ", ".join("{" + n + "}" for n in allowed),
                field=field_name,
            )
    return value


def check_keys(field_name: str, options: dict, allowed: set[str], required: set[str] = frozenset()) -> None:
    if not isinstance(options, dict):
        raise ValidationError(f"{field_name}: give a mapping of options", field=field_name)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValidationError(
            f"{field_name}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
            field=field_name,
        )
    missing = sorted(required - set(options))
    if missing:
        raise ValidationError(f"{field_name}: missing {', '.join(missing)}", field=field_name)


def tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


class GateDriver:
    """A gate kind. `manual` gates are decided by a person, never run by a worker."""

    kind = ""
    manual = False

    @classmethod
    def validate(cls, options: dict, *, field_name: str) -> dict:
        """Check options when the pipeline is defined; return them normalised."""
        raise NotImplementedError

    def run(self, options: dict, context: GateContext) -> GateResult:
        raise NotImplementedError


class ManualGate(GateDriver):
    kind = "manual"
    manual = True

    @classmethod
    def validate(cls, options: dict, *, field_name: str) -> dict:
        check_keys(field_name, options, {"instructions"})
        if not isinstance(options.get("instructions", ""), str):
            raise ValidationError(f"{field_name}.instructions: give text", field=f"{field_name}.instructions")
        return options


registry = Registry(
    "gate",
    {
        "command": "orbiter.pipelines.gates.command:CommandGate",
        "http": "orbiter.pipelines.gates.http:HttpGate",
        "jenkins": "orbiter.pipelines.gates.jenkins:JenkinsGate",
        "manual": "orbiter.pipelines.gates.base:ManualGate",
    },
)
