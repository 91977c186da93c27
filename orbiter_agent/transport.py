"""The agent's STOMP plumbing: JSON-line logs, the listener thread and one connection.

Kept apart from daemon.py so the loop there reads as the protocol's steps; nothing here
decides what a message means.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stomp

from orbiter_agent.config import AgentConfig
from orbiter_agent.protocol import MAX_BYTES

REQUESTS, BROADCAST_SUB = "requests", "broadcast"  # our subscription ids
CONNECT_TIMEOUT_S = 10.0
# Declare the broker gone after 3 missed heart-beat intervals, not stomp.py's 1.5: on a busy
# broker (or a receiver thread waiting for the GIL) 1.5 dropped healthy connections in bulk,
# and every reconnection costs a report and a resubscription.
HEARTBEAT_RECEIVE_SCALE = 3.0
_TRANSPORT = dict(
    prefer_localhost=False, try_loopback_connect=False, reconnect_sleep_initial=0, auto_decode=False
)  # bodies stay bytes: the signature is over them
_ONE_AT_A_TIME = {"activemq.prefetchSize": "1"}  # later requests wait on the broker, not here
PERSISTENT = {"persistent": "true", "content-type": "application/json"}  # survive a restart
# Broadcasts waiting for the loop (which may be busy with a Puppet run for minutes): more
# are dropped. Each is at most MAX_BYTES, so they hold at most 16 x 64 KiB.
MAX_PENDING_BROADCASTS = 16
# Refusals and dropped frames: the first REFUSALS_PER_INTERVAL lines in each interval are
# written, the rest only counted in one `log_suppressed` line.
REFUSALS_PER_INTERVAL, REFUSAL_INTERVAL_S = 10, 60.0
_log_lock = threading.Lock()


def log(event: str, **fields: Any) -> None:
    """One JSON line per event on stderr."""
    line = json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str)
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class ThrottledLog:
    """`log()` for what a sender controls (refused messages, dropped frames): the first
    `burst` lines per `interval_s` are written; the rest are counted per event and the
    counts written as one `log_suppressed` line once the interval is over (at the next
    line or `flush()`). Callable from any thread."""

    def __init__(
        self,
        burst: int = REFUSALS_PER_INTERVAL,
        interval_s: float = REFUSAL_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.interval_s, self._clock = burst, interval_s, clock
        self._lock = threading.Lock()
        self._started = clock()
        self._written = 0
        self._suppressed: Counter[str] = Counter()

    def __call__(self, event: str, **fields: Any) -> None:
        with self._lock:
            self._roll()
            write = self._written < self.burst
            if write:
                self._written += 1
            else:
                self._suppressed[event] += 1
        if write:
            log(event, **fields)

    def flush(self) -> None:
        with self._lock:
            self._roll()

    def _roll(self) -> None:
        now = self._clock()
        if now - self._started < self.interval_s:
            return
        if self._suppressed:
            counts = dict(sorted(self._suppressed.items()))
            log("log_suppressed", counts=counts, interval_s=round(now - self._started, 1))
        self._started, self._written, self._suppressed = now, 0, Counter()


@dataclass(frozen=True)
class Inbound:
    generation: int  # which connection delivered it: an ACK is only valid on that one
    subscription: str
    ack_id: str | None
    body: bytes


# Not a message: wakes the agent's loop, which otherwise sleeps until one arrives.
WAKE = Inbound(0, "", None, b"")


class Inbox:
    """What stomp.py's thread hands the loop, bounded.

    The host's own queue's messages are always taken: the broker sends the next one only
    after the ACK (prefetch 1), so they are one at a time anyway, and a dropped one would
    stay unacknowledged until the next connection. Broadcasts are taken while fewer than
    `max_broadcasts` wait; later ones are dropped (`put` returns False).
    """

    def __init__(self, max_broadcasts: int = MAX_PENDING_BROADCASTS) -> None:
        self._queue: queue.Queue[Inbound] = queue.Queue()
        self._broadcast_slots = threading.BoundedSemaphore(max_broadcasts)

    def put(self, item: Inbound) -> bool:
        if item.subscription == BROADCAST_SUB and not self._broadcast_slots.acquire(False):
            return False
        self._queue.put(item)
        return True

    def get(self, timeout: float | None = None) -> Inbound:
        """The next item; raises queue.Empty after `timeout` seconds without one."""
        item = self._queue.get(timeout=timeout)
        if item.subscription == BROADCAST_SUB:
            self._broadcast_slots.release()
        return item


class Listener(stomp.ConnectionListener):
    """Runs on stomp.py's thread: only records state and queues messages for the main loop.

    A frame reaches `on_message` whole (stomp.py buffers it first): one bigger than the
    protocol's MAX_BYTES is let go here, before it can wait in the inbox. On the topic it
    is dropped; on the host's own queue only its first MAX_BYTES + 1 bytes are kept, so
    the loop refuses it as too large and ACKs it (a dropped one would come back forever).
    """

    def __init__(self, inbox: Inbox, generation: int, refusals: ThrottledLog | None = None) -> None:
        self.inbox, self.generation = inbox, generation
        self.refusals = refusals or ThrottledLog()
        self.settled = threading.Event()  # CONNECTED, RECEIPT, ERROR or the socket closed
        self.lost = False
        self.error: str | None = None

    def on_connected(self, frame: Any) -> None:
        self.settled.set()

    on_receipt = on_connected

    def on_error(self, frame: Any) -> None:
        self.error = frame.headers.get("message") or "ERROR frame from the broker"
        log("broker_error", error=self.error)
        self.settled.set()

    def on_disconnected(self) -> None:
        self.lost = True
        self.settled.set()
        self.inbox.put(WAKE)  # the loop reconnects now, not at its next message

    def on_message(self, frame: Any) -> None:
        subscription = frame.headers.get("subscription", "")
        ack_id = frame.headers.get("ack") if subscription == REQUESTS else None
        body = frame.body if isinstance(frame.body, bytes) else str(frame.body).encode()
        size = len(body)
        if size > MAX_BYTES:
            if subscription != REQUESTS:
                self.refusals("dropped", reason="too_large", bytes=size, max_bytes=MAX_BYTES)
                return
            body = body[: MAX_BYTES + 1]  # enough to be refused as too large, then ACKed
        if not self.inbox.put(Inbound(self.generation, subscription, ack_id, body)):
            self.refusals("dropped", reason="inbox_full", bytes=size, subscription=subscription)


def no_delay(conn: stomp.Connection12) -> None:
    """Send each frame at once (TCP_NODELAY). With Nagle's algorithm on, the ACK that
    follows a reply waits for the broker's delayed TCP acknowledgement of the reply
    (~40 ms on Linux), and with one request in flight per agent every request paid it."""
    sock = getattr(conn.transport, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect(
    cfg: AgentConfig, inbox: Inbox, generation: int, refusals: ThrottledLog | None = None
) -> tuple[stomp.Connection12, Listener]:
    """Connect (brokers in failover order) and subscribe, or raise: nothing half-open is kept.

    Returns once the broker has confirmed both subscriptions, so whatever is sent next
    (the start-up report) comes from an agent that can already receive requests.
    """
    tls = cfg.tls
    conn = stomp.Connection12(
        list(cfg.brokers),  # one pass in failover order per attempt; the caller backs off
        reconnect_attempts_max=len(cfg.brokers),
        heartbeats=(cfg.heartbeat_ms, cfg.heartbeat_ms),
        heart_beat_receive_scale=HEARTBEAT_RECEIVE_SCALE,
        **_TRANSPORT,
    )
    if tls is not None:
        conn.set_ssl(list(cfg.brokers), str(tls.key_file), str(tls.cert_file), str(tls.ca_file))
    listener = Listener(inbox, generation, refusals)
    conn.set_listener("agent", listener)
    try:
        conn.connect(cfg.username, cfg.password, wait=False)
        listener.settled.wait(CONNECT_TIMEOUT_S)
        if not conn.is_connected() or listener.lost or listener.error:
            raise ConnectionError(listener.error or "no CONNECTED frame from the broker")
        conn.subscribe(cfg.request_queue, REQUESTS, "client-individual", _ONE_AT_A_TIME)
        listener.settled.clear()  # the broker handles frames in order: one receipt is enough
        conn.subscribe(cfg.broadcast_topic, BROADCAST_SUB, "auto", {"receipt": "subscribed"})
        if not listener.settled.wait(CONNECT_TIMEOUT_S) or listener.lost:
            raise ConnectionError("no RECEIPT for SUBSCRIBE from the broker")
    except BaseException:
        with contextlib.suppress(Exception):
            conn.transport.disconnect_socket()
        raise
    no_delay(conn)
    host, port = conn.transport.current_host_and_port or ("?", 0)
    log("connected", broker=f"{host}:{port}", queue=cfg.request_queue)
    return conn, listener
