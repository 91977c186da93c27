"""The agent's loop: signed requests in over STOMP, ping/facts/Puppet run, signed replies out.

A listener thread only queues what arrives; the main thread answers one message at a time:

1. `decode_and_verify` it (the control plane's key, the replay store, this certname as
   the recipient: a request targeted at another host is refused, never run or answered);
2. `remember(id, expires_at, None)` before running, so a crash never runs it twice;
3. run the action, encode the signed reply and `remember` it with the reply (a request
   redelivered after a lost connection is answered from the store);
4. send the reply to /queue/orbiter.replies (persistent), then ACK the request.

A replayed id gets its stored reply or, if the agent died before it had one, an
"interrupted" error: Puppet never runs twice for one request. A refused message is
logged, answered if verified well enough to address a reply, and ACKed (a NACK would
dead-letter it). Unasked, the agent also sends a signed report of its facts (installed
package versions, last run) to the same queue after each (re)connection, so the control
plane learns what a host runs without polling it; after a Puppet run the same facts go
in the `puppet.run` reply's result as `facts` (one message, not a reply and a report).
Logs are JSON lines on stderr.
"""

from __future__ import annotations

import contextlib
import queue
import random
import time
from typing import Any

import stomp
from stomp.exception import StompException

from orbiter_agent.config import AgentConfig
from orbiter_agent.protocol import (
    Code,
    Envelope,
    KeyRing,
    ProtocolError,
    ReplayStore,
    decode_and_verify,
    encode,
    make_reply,
    make_report,
    sign,
)
from orbiter_agent.puppet import PuppetRunner
from orbiter_agent.schema import BROADCAST, parse_json_object
from orbiter_agent.transport import (
    BROADCAST_SUB,
    PERSISTENT,
    REQUESTS,
    WAKE,
    Inbound,
    Inbox,
    Listener,
    ThrottledLog,
    connect,
    log,
)

__all__ = ["Agent", "Inbound", "log", "readable_request"]

INTERRUPTED = "interrupted: the agent restarted during this request"
# After a failed connection attempt: 1 s doubling to 30 s, each wait drawn from the upper
# half of the step, so a fleet that lost its broker at one instant comes back spread out.
BACKOFF_FIRST_S, BACKOFF_MAX_S, BACKOFF_JITTER = 1.0, 30.0, (0.5, 1.0)
# The loop sleeps until a message, a lost connection (WAKE) or a stop wakes it; this is
# only a safety net. (It woke every 0.5 s until 2026-11-26: 1,000 agents on one machine
# spent ~0.2 CPU-seconds per second doing nothing.)
IDLE_WAIT_S = 30.0


_ONE_HOST_ON_TOPIC = (
    f'the broadcast topic carries only requests for every host (target "{BROADCAST}"); '
    "a request for one host is accepted only on its own queue"
)


class _Stopped(Exception):
    """Raised by the signal handler to end an idle wait at once."""


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.keys: KeyRing = config.key_ring()
        self.signing_key = config.signing_key()
        config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for key, warning in config.file_warnings().items():  # before anything is stored there
            log("config_warning", key=key, warning=warning)
        self.store = ReplayStore(config.state_dir)
        self.runner = PuppetRunner(config.puppet, config.state_dir, config.packages)
        self.inbox = Inbox()
        self.refusals = ThrottledLog()  # what senders control is logged at a bounded rate
        self.stopping = False
        self._conn: stomp.Connection12 | None = None
        self._listener = Listener(self.inbox, 0)  # of the current connection
        self._generation = 0
        self._backoff_s = BACKOFF_FIRST_S
        self._next_attempt = 0.0
        self._idle = False  # the loop is waiting for the inbox (only then may a signal end it)

    def stop(self) -> None:
        """Stop after the current request (callable from any thread, not a signal handler)."""
        self.stopping = True
        self.inbox.put(WAKE)

    def on_signal(self, *_: Any) -> None:
        """The SIGTERM/SIGINT handler (it runs in the loop's thread): the current request
        still finishes; an idle wait ends at once. A queue cannot be written safely from
        a signal handler, so it raises instead of waking the loop through the inbox."""
        self.stopping = True
        if self._idle:
            raise _Stopped

    def run_forever(self) -> int:
        log("starting", certname=self.config.certname, queue=self.config.request_queue)
        while not self.stopping:
            try:
                self.step_connect() or self.step_message(self.wait_s())
            except _Stopped:  # the signal came as the wait ended: a message taken is
                pass  # left unacknowledged, and the broker delivers it again
        log("stopping", reason="signal")
        self.step_disconnect()
        self.store.close()
        log("stopped")
        return 0

    def wait_s(self) -> float:
        """How long the loop may wait for a message: connected, until one comes (a lost
        connection wakes it); disconnected, only until the next connection attempt is due
        (nothing can wake it then)."""
        if self._conn is not None:
            return IDLE_WAIT_S
        return max(0.0, self._next_attempt - time.monotonic())

    # The steps: each returns whether it did work.

    def step_connect(self) -> bool:
        """Connect (brokers in failover order) if not connected, backing off after failures;
        then report, since what was installed may have changed while we were away."""
        if self._conn is not None and not self._listener.lost:
            return False
        if self._conn is not None:
            log("disconnected")  # closed by the broker, a heartbeat timeout or a failed send
            self._conn = None
        if time.monotonic() < self._next_attempt:
            return False  # the loop waits on the inbox until the attempt is due
        self._generation += 1
        try:
            self._conn, self._listener = connect(
                self.config, self.inbox, self._generation, self.refusals
            )
        except (StompException, OSError) as exc:
            delay = self._backoff_s * random.uniform(*BACKOFF_JITTER)  # noqa: S311 - jitter only
            log("connect_failed", error=str(exc) or type(exc).__name__, retry_in_s=round(delay, 3))
            self._next_attempt = time.monotonic() + delay
            self._backoff_s = min(self._backoff_s * 2, BACKOFF_MAX_S)
            return False
        self._backoff_s = BACKOFF_FIRST_S
        self.send_report("connected")
        return True

    def step_message(self, wait_s: float = IDLE_WAIT_S) -> bool:
        """Answer one received message, if any; send its reply, then ACK it."""
        self._idle = True
        try:
            item = self.inbox.get(timeout=wait_s)
        except (queue.Empty, _Stopped):
            self.refusals.flush()  # counts of suppressed lines go out even when all is quiet
            return False
        finally:
            self._idle = False
        if item is WAKE:
            return True
        if self._conn is None or (item.ack_id and item.generation != self._generation):
            return True  # from a lost connection: the broker redelivers it
        try:
            reply = self.answer(item)
        except Exception as exc:  # noqa: BLE001 - a message that breaks the agent is dropped
            log("answer_failed", error=repr(exc))  # rather than redelivered forever
            reply = None
        # Not ACKed if sending fails: redelivered after the reconnection, answered from the store.
        self._transmit(reply, item.ack_id)
        return True

    def step_disconnect(self) -> bool:
        if self._conn is None:
            return False
        with contextlib.suppress(StompException, OSError):
            self._conn.disconnect(receipt="agent-stopping")
        self._conn = None
        return True

    def send_report(self, reason: str) -> bool:
        """Send this host's facts unasked, signed, persistent; a failure costs only the
        report (the next connection or run sends fresh facts)."""
        try:
            result = {"ok": True, "certname": self.config.certname, **self.runner.facts()}
            report = make_report(result, sender=self.config.certname, now=time.time())
            body = encode(sign(report, self.signing_key))
        except Exception as exc:  # noqa: BLE001 - facts that cannot be read stop nothing else
            log("report_failed", reason=reason, error=repr(exc))
            return False
        if not self._transmit(body, None):
            return False
        log("report", id=report.id, reason=reason, packages=result.get("packages"))
        return True

    def answer(self, item: Inbound) -> bytes | None:
        """The encoded reply to one message, or None when it deserves none.

        On the broadcast topic only requests for every host ("*") are taken: the control
        plane sends a request for one host to its queue, so a copy of one on the topic is
        refused before its id is looked up or recorded, and the genuine copy still runs.
        """
        on_topic = item.subscription == BROADCAST_SUB
        try:
            request = decode_and_verify(
                item.body,
                keys=self.keys,
                now=time.time(),
                seen=self.store,
                recipient=BROADCAST if on_topic else self.config.certname,
            )
            if request.kind != "request":
                raise ProtocolError(Code.BAD_FIELD, "the agent accepts requests only", field="kind")
        except ProtocolError as exc:
            if on_topic and exc.code == Code.WRONG_TARGET:
                exc = ProtocolError(Code.WRONG_TARGET, _ONE_HOST_ON_TOPIC, field="target")
            return self._refused(item, exc)
        self.store.remember(request.id, request.expires_at, None)
        log("request", id=request.id, action=request.action, params=request.params)
        result = self._perform(request, item.subscription)
        reply = self._reply(request, result)
        self.store.remember(request.id, request.expires_at, reply)
        log("reply", id=request.id, action=request.action, ok=result["ok"])
        return reply

    def _transmit(self, body: bytes | None, ack_id: str | None) -> bool:
        """Send `body` to the reply queue, then ACK `ack_id`; on failure drop the connection."""
        if self._conn is None:
            return False
        try:
            if body is not None:
                self._conn.send(self.config.reply_queue, body, headers=PERSISTENT)
            if ack_id is not None:
                self._conn.ack(ack_id)
        except (StompException, OSError) as exc:
            log("send_failed", error=str(exc) or type(exc).__name__)
            with contextlib.suppress(Exception):
                self._conn.transport.disconnect_socket()
            self._listener.lost = True
            return False
        return True

    def _refused(self, item: Inbound, exc: ProtocolError) -> bytes | None:
        # A request redelivered on our queue is answered again; a broadcast is delivered
        # once, so a second copy on the topic is someone's replay: refused, not answered.
        if exc.code == Code.REPLAY and exc.envelope is not None and item.subscription == REQUESTS:
            request = exc.envelope
            stored = self.store.stored_reply(request.id)
            if stored is not None:
                log("replay_answered", id=request.id)
                return stored
            result = {"ok": False, "transient": True, "error": INTERRUPTED}
            reply = self._reply(request, result)  # it was running when the agent died
            self.store.remember(request.id, request.expires_at, reply)
            log("interrupted_answered", id=request.id, action=request.action)
            return reply
        timing = exc.code in (Code.EXPIRED, Code.ISSUED_IN_FUTURE)  # all else was verified
        request = readable_request(item.body, self.keys, self.config.certname) if timing else None
        code, request_id = exc.code.value, request.id if request else None
        self.refusals("refused", code=code, field=exc.field, error=exc.message, id=request_id)
        if request is None:
            return None
        error = f"refused ({code}): {exc.message}"
        return self._reply(request, {"ok": False, "transient": False, "error": error, "code": code})

    def _perform(self, request: Envelope, via: str) -> dict[str, Any]:
        try:
            if request.action == "ping":
                return {"ok": True, "pong": self.config.certname, "time": time.time()}
            if request.action == "facts":
                return {"ok": True, "certname": self.config.certname, **self.runner.facts()}
            if via != REQUESTS:  # a broadcast must never change every host at once
                error = (
                    f"puppet.run is accepted only on this host's queue {self.config.request_queue}"
                )
                return {"ok": False, "transient": False, "error": error}
            params = request.params or {}
            run = self.runner.run(params["noop"], params["tags"], params["timeout_s"])
            log("puppet_run", id=request.id, kind=run.kind, exit_code=run.exit_code)
            result = run.to_dict()
            try:  # whatever the run did, versions may have changed: the reply says what is installed
                result["facts"] = self.runner.facts()
            except Exception as exc:  # noqa: BLE001 - facts that cannot be read cost only the facts
                log("report_failed", reason="puppet.run", error=repr(exc))
            return result
        except Exception as exc:  # noqa: BLE001 - the control plane must still get an answer
            log("action_failed", id=request.id, error=repr(exc))
            return {"ok": False, "transient": True, "error": f"agent error: {exc}"}

    def _reply(self, request: Envelope, result: dict[str, Any]) -> bytes:
        def signed(result: dict[str, Any]) -> bytes:
            reply = make_reply(request, result, sender=self.config.certname, now=time.time())
            return encode(sign(reply, self.signing_key))

        try:
            return signed(result)
        except ProtocolError as exc:
            if exc.code == Code.BAD_RESULT:  # never send what the listener refuses: say why instead
                why = f"agent produced an invalid result: {exc.message}".replace("\x00", "")[:500]
                return signed({"ok": False, "transient": True, "error": why})
            if exc.code != Code.TOO_LARGE:
                raise
            short = {k: v for k, v in result.items() if k not in ("logs", "output_tail")}
            return signed({**short, "truncated": True})


def readable_request(data: bytes, keys: KeyRing, recipient: str | None = None) -> Envelope | None:
    """The request in `data` if all but its times check out: enough to address a signed
    error reply to, for a request refused as expired or issued in the future."""
    try:
        issued_at = parse_json_object(data)["issued_at"]
        return decode_and_verify(data, keys=keys, now=float(issued_at), recipient=recipient)
    except (ProtocolError, KeyError, TypeError, ValueError, OverflowError):
        return None
