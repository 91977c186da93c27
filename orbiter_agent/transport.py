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
from dataclasses import dataclass
from typing import Any

import stomp

from orbiter_agent.config import AgentConfig

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
_log_lock = threading.Lock()


def log(event: str, **fields: Any) -> None:
    """One JSON line per event on stderr."""
    line = json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str)
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


@dataclass(frozen=True)
class Inbound:
    generation: int  # which connection delivered it: an ACK is only valid on that one
    subscription: str
    ack_id: str | None
    body: bytes


# Not a message: wakes the agent's loop, which otherwise sleeps until one arrives.
WAKE = Inbound(0, "", None, b"")


class Listener(stomp.ConnectionListener):
    """Runs on stomp.py's thread: only records state and queues messages for the main loop."""

    def __init__(self, inbox: queue.Queue[Inbound], generation: int) -> None:
        self.inbox, self.generation = inbox, generation
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
        self.inbox.put(Inbound(self.generation, subscription, ack_id, body))


def no_delay(conn: stomp.Connection12) -> None:
    """Send each frame at once (TCP_NODELAY). With Nagle's algorithm on, the ACK that
    follows a reply waits for the broker's delayed TCP acknowledgement of the reply
    (~40 ms on Linux), and with one request in flight per agent every request paid it."""
    sock = getattr(conn.transport, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect(
    cfg: AgentConfig, inbox: queue.Queue[Inbound], generation: int
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
    listener = Listener(inbox, generation)
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
