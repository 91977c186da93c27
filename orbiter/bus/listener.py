"""`orbiter listen`: consume agent replies, verify them, record them, wake the engine.

Several listeners may run: they compete for /queue/orbiter.replies. A reply is
acknowledged only after its result is committed, so a listener killed in between leaves
it to be redelivered; recording is idempotent.

Nothing a message holds may stop a listener or make it loop. A batch goes through:

1. `parse` (no database): size (64 KiB), strict JSON, depth (schema.MAX_DEPTH) — all
   before the canonical form is ever computed.
2. One transaction: lock the senders' host rows in primary-key order and read the keys
   enrolled *now* (one query for the batch); verify each signature with its sender's key,
   then every field and the action's result schema; refuse any kind but `reply` and
   `report`; record results and facts. A revocation or a rotation committed before the
   lock is seen by this batch; one committed after waits for it — no cache to go stale,
   and a sender with no key costs nothing more than its place in that query.
3. Commit, then acknowledge. If the batch's transaction fails, each message is recorded
   alone in a transaction of its own, so only the one at fault is refused.

A refused message is logged once and acknowledged; one that came from an enrolled
host's certname (a genuine reply may have been signed with a key revoked or rotated
since) is first copied to the dead-letter queue with the reason in its headers. When the
database is away, nothing is acknowledged: the batch is held and retried with backoff.
"""

import functools
import logging
import random
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DatabaseError, InterfaceError, connection, transaction
from django.utils import timezone

from orbiter.bus.base import DEAD_LETTER, REPLIES, Bus, Message
from orbiter.catalog.models import Host
from orbiter.common.quiet_log import QuietLog
from orbiter.converge.base import ConvergeResult
from orbiter.converge.services import converge_results_record_awaited
from orbiter.core import liveness
from orbiter_agent import protocol
from orbiter_agent.keys import KeyRing, parse_public_key
from orbiter_agent.results import LAST_RUN_FIELDS
from orbiter_agent.schema import Code, ProtocolError

log = logging.getLogger("orbiter.listener")

KINDS = ("reply", "report")  # what agents send; a `request` on the replies queue is refused
DEAD_LETTER_TTL_S = 7 * 24 * 3600
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0  # the database's absence: first wait, longest wait


class DatabaseUnavailable(Exception):
    """The database cannot be reached: not the message's fault; hold it and retry."""


@dataclass
class Item:
    """A message that parsed: its object, the sender it claims, its refusal if any."""

    message: Message
    obj: dict
    sender: str
    refusal: ProtocolError | None = None


def reply_to_result(envelope) -> ConvergeResult:
    """What a puppet.run reply (orbiter_agent.puppet.RunResult) means for the engine. A failed
    run is never permanent: resource failures and transient errors both cost one attempt.
    The result passed the schema (orbiter_agent.results): every field read here is of its
    type and bounded."""
    result = envelope.result
    summary = {k: result[k] for k in ("status", "kind", "exit_code", "changed", "noop", "duration_s",
                                      "puppet_time_s", "puppet_version", "report_status") if k in result}
    if isinstance(result.get("resources"), dict):
        summary["resources"] = result["resources"]
    logs = [f"{entry.get('level') or ''}: {entry.get('message') or ''}" for entry in result.get("logs") or []]
    return ConvergeResult(
        request_id=envelope.in_reply_to,
        ok=result["ok"],
        permanent=False,
        message=str(result.get("message") or result.get("error") or result.get("kind") or "")[:500],
        summary=summary,
        log_tail=("\n".join(logs) + "\n" + (result.get("output_tail") or ""))[-4000:].strip(),
        certname=envelope.sender,
    )


@functools.lru_cache(maxsize=8192)
def enrolled_key(text: str):
    """An enrolled key parsed once (by its text, so a new key is a new entry); None if unusable."""
    try:
        return parse_public_key(text.encode(), source="enrolled key")
    except ProtocolError as error:
        log.error("an enrolled agent key is unusable: %s", error)
        return None


class ReplyListener:
    def __init__(self, bus: Bus):
        self.bus = bus
        self.stopping = False
        self.recorded = 0
        self.refused: dict[str, int] = {}  # by code, for the logs and tests
        self.dead_lettered = 0
        self.held: list[Message] = []  # unacknowledged while the database is away
        self.retry_at = 0.0
        self.retry_s = RETRY_FIRST_S
        self._quiet = QuietLog(log, "refused %s more replies in the last minute (not logged one by one)")

    def start(self) -> None:
        self.bus.subscribe(REPLIES, self.handle_batch, batch=True)

    def handle(self, message: Message) -> None:
        self.handle_batch([message])

    def handle_batch(self, messages: list[Message]) -> None:
        if self.held:  # the database is away: keep these with the others, in order
            held = {m.headers.get("message-id") for m in self.held} - {None}
            # a reconnection redelivers what is held: keep one copy (held stays within the prefetch)
            self.held.extend(m for m in messages if m.headers.get("message-id") not in held)
            return
        self._process(messages)

    def step(self, timeout: float = 0.5) -> bool:
        """One turn of the loop: retry what the database's absence held, else take messages."""
        return self.step_retry() or self.bus.step(timeout=0.0 if self.held else timeout)

    def step_retry(self) -> bool:
        if not self.held:
            return False
        if time.monotonic() < self.retry_at:
            time.sleep(min(0.1, self.retry_at - time.monotonic()))
            return False
        held, self.held = self.held, []
        self._process(held)
        return True

    def run_forever(self) -> None:
        """The loop: small steps, SIGTERM only sets a flag."""
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        self.start()
        while not self.stopping:
            self.step(timeout=0.5)
            liveness.beat("listener")  # /healthz: at most every few seconds, never raises
        self.bus.close()  # what is held goes back to the broker unacknowledged

    # --- one batch ------------------------------------------------------------------------

    def _process(self, messages: list[Message]) -> None:
        items = []
        for message in messages:
            try:
                obj = protocol.parse(message.body)
                sender = obj.get("sender")
                items.append(Item(message, obj, sender if isinstance(sender, str) else ""))
            except ProtocolError as error:
                self._refuse(message, error, sender="", enrolled=False)
        try:
            enrolled = self._record(items)
        except DatabaseUnavailable as error:
            self._hold(items, error)
            return
        except Exception:  # a message at fault somewhere in the batch: find it alone
            log.exception("a batch of %d replies failed; recording them one by one", len(items))
            for n, item in enumerate(items):
                try:
                    enrolled = self._record([item])
                except DatabaseUnavailable as error:
                    self._hold(items[n:], error)
                    return
                except Exception as error:  # noqa: BLE001 - this one message cannot be recorded
                    item.refusal = ProtocolError(Code.UNRECORDABLE, f"cannot be recorded: {type(error).__name__}")
                    enrolled = {item.sender}
                self._settle([item], enrolled)
        else:
            self._settle(items, enrolled)
        self.retry_s = RETRY_FIRST_S

    def _record(self, items: list[Item]) -> set[str]:
        """Verify and record `items` in one transaction; the senders enrolled at that moment.
        Refusals are noted on the items (they are acted on after the commit)."""
        if not items:
            return set()
        try:
            with transaction.atomic():
                hosts = {h.certname: h for h in Host.objects.select_for_update().order_by("pk")
                         .filter(certname__in={i.sender for i in items})
                         .only("pk", "certname", "facts", "last_seen_at", "agent_public_key")}
                envelopes = []
                for item in items:
                    item.refusal = None
                    try:
                        envelopes.append(self._verify(item, hosts.get(item.sender)))
                    except ProtocolError as error:
                        item.refusal = error
                self._write(envelopes, hosts)
                return set(hosts)
        except (DatabaseError, InterfaceError) as error:
            if _database_lost():
                raise DatabaseUnavailable(str(error)) from error
            raise

    @staticmethod
    def _verify(item: Item, host: Host | None):
        key = enrolled_key(host.agent_public_key) if host is not None and host.agent_public_key else None
        ring = KeyRing({item.sender: key} if key is not None else {})
        envelope = protocol.verify_object(item.obj, keys=ring, now=time.time())
        if envelope.kind not in KINDS:
            raise ProtocolError(Code.BAD_FIELD, f"the replies queue takes replies and reports, not a {envelope.kind}",
                                field="kind")
        return envelope

    def _write(self, envelopes: list, hosts: dict[str, Host]) -> None:
        """Record the results and facts of verified messages; stamp a host as seen only on an
        answer it was waited for or facts newer than those stored — never on a replay."""
        results = [reply_to_result(e) for e in envelopes if e.kind == "reply" and e.action == "puppet.run"]
        awaited = converge_results_record_awaited(results) if results else []
        self.recorded += len(awaited)
        seen: dict[str, float] = {}
        by_id = {e.in_reply_to: e for e in envelopes if e.kind == "reply"}
        for result in awaited:
            envelope = by_id[result.request_id]
            seen[envelope.sender] = max(seen.get(envelope.sender, 0.0), envelope.issued_at)
        facts: dict[str, tuple[dict, float]] = {}
        for envelope in envelopes:
            if envelope.action == "facts":  # a report (at connection) or an answer to `facts`
                _newest(facts, envelope.sender, envelope.result, envelope.issued_at)
            elif envelope.action == "puppet.run" and isinstance(envelope.result.get("facts"), dict):
                _newest(facts, envelope.sender, envelope.result["facts"], envelope.issued_at)
        changed = []
        for certname, (result, issued_at) in facts.items():
            host = hosts[certname]
            if (host.facts or {}).get("reported_at", 0) >= issued_at:
                continue  # a replay, or older than what competing listeners stored
            host.facts = _facts(result, issued_at)
            seen[certname] = max(seen.get(certname, 0.0), issued_at)
            changed.append(host)
        now = timezone.now()
        for certname, issued_at in seen.items():
            host = hosts[certname]
            when = min(now, datetime.fromtimestamp(issued_at, tz=UTC))
            if host.last_seen_at is None or host.last_seen_at < when:
                host.last_seen_at = when
                if host not in changed:
                    changed.append(host)
        if changed:
            Host.objects.bulk_update(changed, ["facts", "last_seen_at"])

    # --- after the commit -----------------------------------------------------------------

    def _settle(self, items: list[Item], enrolled: set[str]) -> None:
        for item in items:
            if item.refusal is None:
                item.message.ack()
            else:
                self._refuse(item.message, item.refusal, sender=item.sender, enrolled=item.sender in enrolled)

    def _refuse(self, message: Message, error: ProtocolError, *, sender: str, enrolled: bool) -> None:
        """Log once, keep a copy of what an enrolled host's name sent, acknowledge: a refusal
        is final (never NACK: it would only come back)."""
        code = str(error.code)
        self.refused[code] = self.refused.get(code, 0) + 1
        self._quiet.warning(code, "refused a reply from %r: %s (%s)", sender[:253], error, code)
        if enrolled:
            headers = {"orbiter-refused": code, "orbiter-reason": str(error)[:300],
                       "orbiter-sender": sender[:253],
                       "expires": str(int((time.time() + DEAD_LETTER_TTL_S) * 1000))}
            try:
                self.bus.send(DEAD_LETTER, message.body, headers=headers)
            except Exception as error:  # noqa: BLE001 - the broker is gone: unacknowledged, it comes back
                log.warning("could not dead-letter a refused reply (%s); it stays on the queue", error)
                return
            self.dead_lettered += 1
        message.ack()

    def _hold(self, items: list[Item], error: Exception) -> None:
        connection.close()  # the next attempt opens a new one
        self.held = [i.message for i in items] + self.held
        self.retry_at = time.monotonic() + self.retry_s * random.uniform(0.8, 1.2)
        log.warning("database unavailable (%s); holding %d replies, next try in %.1fs",
                    str(error).strip()[:200], len(self.held), self.retry_s)
        self.retry_s = min(self.retry_s * 2, RETRY_MAX_S)


def _database_lost() -> bool:
    """After a failed transaction: was it the connection (then closed, to reopen on next
    use) rather than what was written? Django drops a connection whose rollback failed."""
    if connection.connection is None:
        return True
    if connection.is_usable():
        return False
    connection.close()
    return True


def _newest(facts: dict[str, tuple[dict, float]], sender: str, result: dict, issued_at: float) -> None:
    """Keep, per host, the facts it reported last (a batch may hold two of its reports)."""
    if sender not in facts or facts[sender][1] <= issued_at:
        facts[sender] = (result, issued_at)


def _facts(result: dict, issued_at: float) -> dict:
    """Host.facts from an agent's report (checked by orbiter_agent.results): its packages,
    last run and when it said so."""
    last_run = result.get("last_run")
    return {
        "packages": dict(result.get("packages") or {}),
        # the fields the schema checked; a newer agent's additions are not stored
        "last_run": {k: last_run[k] for k in LAST_RUN_FIELDS if k in last_run} if last_run else None,
        "reported_at": issued_at,
    }
