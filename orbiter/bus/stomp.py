"""STOMP 1.2 over ActiveMQ with stomp.py: persistent sends, client-individual acks,
heart-beats, failover across brokers in order, reconnect with backoff."""

import logging
import queue
import time
from urllib.parse import urlsplit

import stomp

from orbiter.bus.base import BATCH, Bus, Message
from orbiter_agent.transport import HEARTBEAT_RECEIVE_SCALE, no_delay

log = logging.getLogger("orbiter.bus")


class _Listener(stomp.ConnectionListener):
    def __init__(self, inbox: queue.Queue):
        self.inbox = inbox
        self.connected = False

    def on_connected(self, frame):
        self.connected = True

    def on_disconnected(self):
        self.connected = False

    def on_error(self, frame):
        log.warning("broker error: %s", frame.body[:500])

    def on_message(self, frame):
        self.inbox.put(frame)


class StompBus(Bus):
    name = "stomp"

    def __init__(self, brokers: list[tuple[str, int]], *, user: str = "", password: str = "",
                 heartbeat_ms: int = 10000):
        self.brokers = brokers
        self.user, self.password = user, password
        self.heartbeat_ms = heartbeat_ms
        self._inbox: queue.Queue = queue.Queue()
        self._listener = _Listener(self._inbox)
        self._conn: stomp.Connection12 | None = None
        self._subscriptions: dict[str, object] = {}
        self._backoff = 0.5
        self._next_attempt = 0.0

    @classmethod
    def from_url(cls, url: str) -> "StompBus":
        from django.conf import settings

        brokers = []
        for part in url.split(","):
            parsed = urlsplit(part.strip())
            if parsed.scheme != "stomp" or not parsed.hostname:
                raise ValueError(f"ORBITER_BUS_URL: {part!r} is not stomp://host:port")
            brokers.append((parsed.hostname, parsed.port or 61613))
        return cls(brokers, user=settings.ORBITER_STOMP_USER, password=settings.ORBITER_STOMP_PASSWORD)

    def _connect(self) -> bool:
        if self._conn is not None and self._listener.connected:
            return True
        if time.monotonic() < self._next_attempt:
            return False
        # The agents' tolerance: the broker is gone after 3 missed heart-beats, not stomp.py's 1.5
        # (with 1.5 an idle listener reconnected 7 times in a run, each time resubscribing).
        conn = stomp.Connection12(self.brokers, heartbeats=(self.heartbeat_ms, self.heartbeat_ms),
                                  heart_beat_receive_scale=HEARTBEAT_RECEIVE_SCALE,
                                  reconnect_attempts_max=1, auto_decode=False)
        conn.set_listener("orbiter", self._listener)
        try:
            conn.connect(self.user, self.password, wait=True)
        except stomp.exception.StompException as error:
            self._next_attempt = time.monotonic() + self._backoff
            log.warning("cannot reach the broker (%s); next try in %.1fs", error, self._backoff)
            self._backoff = min(self._backoff * 2, 30.0)
            return False
        no_delay(conn)
        self._conn, self._backoff = conn, 0.5
        for destination, (_, batch) in self._subscriptions.items():
            self._subscribe(conn, destination, batch)
        return True

    def send(self, destination: str, body: bytes, *, persistent: bool = True, headers: dict | None = None) -> None:
        if not self._connect():
            raise ConnectionError("no broker reachable")
        self._conn.send(destination, body, content_type="application/json",
                        headers={"persistent": "true" if persistent else "false", **(headers or {})})

    def subscribe(self, destination: str, handler, *, batch: bool = False) -> None:
        self._subscriptions[destination] = (handler, batch)
        if self._conn is not None and self._listener.connected:
            self._subscribe(self._conn, destination, batch)

    @staticmethod
    def _subscribe(conn, destination: str, batch: bool) -> None:
        # A batch consumer may hold up to BATCH unacknowledged messages; others one at a time.
        conn.subscribe(destination, id=destination, ack="client-individual",
                       headers={"activemq.prefetchSize": str(BATCH if batch else 1)})

    def step(self, timeout: float = 0.5) -> bool:
        if not self._connect():
            time.sleep(min(timeout, 0.1))
            return False
        try:
            frames = [self._inbox.get(timeout=timeout)]
        except queue.Empty:
            return False
        while len(frames) < BATCH:  # whatever else already arrived goes in the same batch
            try:
                frames.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        by_subscription: dict[str, list[Message]] = {}
        for frame in frames:
            by_subscription.setdefault(frame.headers.get("subscription", ""), []).append(self._message(frame))
        for subscription, messages in by_subscription.items():
            handler, batch = self._subscriptions[subscription]
            if batch:
                handler(messages)
            else:
                for message in messages:
                    handler(message)
        return True

    def _message(self, frame) -> Message:
        conn, ack_id = self._conn, frame.headers.get("ack")
        body = frame.body if isinstance(frame.body, bytes) else frame.body.encode()

        def ack() -> None:
            try:
                conn.ack(ack_id)
            except (stomp.exception.StompException, OSError) as error:
                # The connection that delivered it is gone: the broker delivers it again.
                log.warning("could not acknowledge message %s (%s); it will be redelivered", ack_id, error)

        return Message(frame.headers.get("destination", ""), body, dict(frame.headers), ack=ack)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.disconnect()
            except Exception:  # already gone
                pass
            self._conn = None
