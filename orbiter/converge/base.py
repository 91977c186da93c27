"""The converge seam: make a host run the version it is pinned to.

Asynchronous by design, like a real agent: `send()` puts requests on their way and
returns; results come back later through `services.converge_results_record()`, keyed by
request id. A request id is sent again only after its deadline, and a driver (or the
agent behind it) must answer a repeated id from the stored result, never run it twice.
"""

from dataclasses import asdict, dataclass, field

from orbiter.common.registry import Registry


@dataclass(frozen=True)
class ConvergeRequest:
    request_id: str
    certname: str
    application: str
    package: str
    version: str
    timeout_s: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConvergeResult:
    request_id: str
    ok: bool
    permanent: bool = False
    message: str = ""
    summary: dict = field(default_factory=dict)
    log_tail: str = ""
    certname: str | None = None  # who answered: a result counts only for that host's request


class ConvergeDriver:
    name = ""

    def __init__(self, options: dict):
        self.options = options

    def send(self, requests: list[ConvergeRequest]) -> None:
        raise NotImplementedError


registry = Registry(
    "converge",
    {
        "simulated": "orbiter.converge.drivers.simulated:SimulatedConverge",
        "agent": "orbiter.converge.drivers.agent:AgentConverge",
        "command": "orbiter.converge.drivers.command:CommandConverge",
    },
)


def driver_for(application) -> ConvergeDriver:
    return registry.get(application.converge_driver)(application.converge_options)
