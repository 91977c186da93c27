"""An in-process bus: queues are lists, delivery happens when someone calls step()."""

import threading
from collections import defaultdict, deque

from orbiter.bus.base import BATCH, Bus, Message


class MemoryBus(Bus):
    name = "memory"

    def __init__(self):
        self._queues: dict[str, deque] = defaultdict(deque)
        self._handlers: dict[str, list] = defaultdict(list)
        self._lock = threading.Lock()
        self.sent: list[Message] = []  # everything ever sent, for tests and the demo

    @classmethod
    def from_url(cls, url: str) -> "MemoryBus":
        return cls()

    def send(self, destination: str, body: bytes, *, persistent: bool = True, headers: dict | None = None) -> None:
        message = Message(destination, body, {"persistent": str(persistent).lower(), **(headers or {})})
        with self._lock:
            self._queues[destination].append(message)
            self.sent.append(message)

    def subscribe(self, destination: str, handler, *, batch: bool = False) -> None:
        self._handlers[destination].append((handler, batch))

    def receive(self, destination: str) -> list[Message]:
        """Take every message waiting on a destination nobody subscribed to (a test playing an agent)."""
        with self._lock:
            messages = list(self._queues[destination])
            self._queues[destination].clear()
        return messages

    def step(self, timeout: float = 0.0) -> bool:
        delivered = False
        for destination, handlers in list(self._handlers.items()):
            handler, batch = handlers[0]  # competing consumers: one handler gets each message
            while True:
                with self._lock:
                    taken = [self._queues[destination].popleft()
                             for _ in range(min(len(self._queues[destination]), BATCH if batch else 1))]
                if not taken:
                    break
                handler(taken) if batch else handler(taken[0])
                delivered = True
        return delivered
