"""The message bus between the control plane and the agents.

Two transports behind one small interface: `stomp` (ActiveMQ, production and
integration tests) and `memory` (one process: unit tests). Which one comes from
ORBITER_BUS_URL: `memory://`, or `stomp://host:61613[,stomp://other:61613]` (failover
in order). Destinations (see orbiter_agent/protocol.py):

    /queue/orbiter.agent.<certname>   requests to one agent
    /queue/orbiter.replies            replies from every agent (competing listeners)
    /topic/orbiter.all                broadcasts
    /queue/DLQ.orbiter.replies        replies the listener refused (see bus/listener.py)
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from orbiter.common.registry import Registry

REPLIES = "/queue/orbiter.replies"
# Refused replies that came under an enrolled host's name, kept (with the reason in their
# headers, for 7 days) for an operator: ActiveMQ's own naming for a queue's dead letters.
DEAD_LETTER = "/queue/DLQ.orbiter.replies"
BATCH = 100  # messages handed to a batch handler at most at once
BROADCAST = "/topic/orbiter.all"


def agent_queue(certname: str) -> str:
    return f"/queue/orbiter.agent.{certname}"


@dataclass
class Message:
    destination: str
    body: bytes
    headers: dict = field(default_factory=dict)
    ack: Callable[[], None] = lambda: None


class Bus:
    name = ""

    def send(self, destination: str, body: bytes, *, persistent: bool = True, headers: dict | None = None) -> None:
        raise NotImplementedError

    def subscribe(self, destination: str, handler: Callable, *, batch: bool = False) -> None:
        """Deliver each message to handler (with batch=True: a list of the messages waiting,
        up to BATCH); it calls message.ack() once it has dealt with one (unacknowledged
        messages come back after a reconnect)."""
        raise NotImplementedError

    def step(self, timeout: float = 0.5) -> bool:
        """Do pending I/O (reconnect, deliver); True when something happened."""
        raise NotImplementedError

    def close(self) -> None:
        pass


registry = Registry(
    "bus",
    {"memory": "orbiter.bus.memory:MemoryBus", "stomp": "orbiter.bus.stomp:StompBus"},
)

_bus: Bus | None = None


def bus_from_settings() -> Bus:
    """This process's bus, built once from ORBITER_BUS_URL."""
    global _bus
    if _bus is None:
        from django.conf import settings

        url = settings.ORBITER_BUS_URL
        scheme = url.split("://", 1)[0]
        _bus = registry.get(scheme).from_url(url)
    return _bus


def reset_bus() -> None:
    global _bus
    if _bus is not None:
        _bus.close()
    _bus = None
