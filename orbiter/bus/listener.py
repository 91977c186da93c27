"""`orbiter listen`: consume agent replies, verify them, record them, wake the engine.

Several listeners may run: they compete for /queue/orbiter.replies. A reply is
acknowledged only after its result is committed, so a listener killed in between leaves
it to be redelivered; recording is idempotent.
"""

import logging
import signal
import time

from django.db import transaction

from orbiter.bus.base import REPLIES, Bus, Message
from orbiter.catalog.models import Host
from orbiter.converge.base import ConvergeResult
from orbiter.converge.services import converge_results_record
from orbiter.core import liveness
from orbiter_agent import protocol
from orbiter_agent.keys import KeyRing, parse_public_key

log = logging.getLogger("orbiter.listener")


def agent_keyring() -> KeyRing:
    """Public keys of the enrolled agents, by certname."""
    ring = KeyRing()
    for certname, key in Host.objects.exclude(agent_public_key="").values_list("certname", "agent_public_key"):
        try:
            ring.add(certname, parse_public_key(key.encode(), source=f"host {certname}"))
        except protocol.ProtocolError as error:
            log.error("host %s has an unusable public key: %s", certname, error)
    return ring


def reply_to_result(envelope) -> ConvergeResult:
    """What a puppet.run reply (orbiter_agent.puppet.RunResult) means for the engine. A failed
    run is never permanent: resource failures and transient errors both cost one attempt."""
    result = envelope.result or {}
    summary = {k: result[k] for k in ("status", "kind", "exit_code", "changed", "noop", "duration_s",
                                      "puppet_time_s", "puppet_version", "report_status") if k in result}
    if isinstance(result.get("resources"), dict):
        summary["resources"] = result["resources"]
    logs = [f"{entry.get('level', '')}: {entry.get('message', '')}" for entry in result.get("logs") or []
            if isinstance(entry, dict)]
    return ConvergeResult(
        request_id=envelope.in_reply_to,
        ok=bool(result.get("ok")),
        permanent=False,
        message=str(result.get("message") or result.get("error") or result.get("kind") or "")[:500],
        summary=summary,
        log_tail=("\n".join(logs) + "\n" + str(result.get("output_tail") or ""))[-4000:].strip(),
        certname=envelope.sender,
    )


class ReplyListener:
    def __init__(self, bus: Bus):
        self.bus = bus
        self.keys = agent_keyring()
        self.stopping = False
        self.recorded = 0

    def start(self) -> None:
        self.bus.subscribe(REPLIES, self.handle_batch, batch=True)

    def handle(self, message: Message) -> None:
        self.handle_batch([message])

    def handle_batch(self, messages: list[Message]) -> None:
        """Verify each reply, record the results and facts of the whole batch in one
        transaction, then acknowledge them all (a listener dying before that leaves them to
        another)."""
        results, facts, senders = [], {}, set()
        for message in messages:
            try:
                envelope = self._verify(message.body)
            except protocol.ProtocolError as error:
                log.warning("refused a reply: %s (%s)", error, error.code)
                continue  # acknowledged below: never NACK (ActiveMQ would dead-letter it); refusal is final
            result = envelope.result or {}
            if envelope.action == "facts":  # a report (at connection) or an answer to `facts`
                _newest(facts, envelope.sender, result, envelope.issued_at)
            elif envelope.kind == "reply" and envelope.action == "puppet.run":
                results.append(reply_to_result(envelope))
                if isinstance(result.get("facts"), dict):  # an agent's facts after its run
                    _newest(facts, envelope.sender, result["facts"], envelope.issued_at)
            senders.add(envelope.sender)
        with transaction.atomic():
            if results:
                self.recorded += converge_results_record(results)
            if senders:
                self.record_hosts(senders, facts)
        for message in messages:
            message.ack()

    @staticmethod
    def record_hosts(senders: set[str], facts: dict[str, tuple[dict, float]]) -> None:
        """Stamp every sender as seen and keep the facts reported by some of them: what the
        agent says is installed (drift = pinned != installed, see catalog.selectors.host_versions).
        Reports may arrive out of order through competing listeners: an older one than what
        is stored changes nothing. Three statements for the batch, whatever its size; the
        rows are locked in primary-key order, so competing listeners cannot deadlock."""
        hosts = list(Host.objects.select_for_update().filter(certname__in=senders).order_by("pk")
                     .only("pk", "certname", "facts"))
        changed = []
        for host in hosts:
            if host.certname not in facts:
                continue
            result, issued_at = facts[host.certname]
            if (host.facts or {}).get("reported_at", 0) > issued_at:
                continue
            host.facts = _facts(result, issued_at)
            changed.append(host)
        if changed:
            Host.objects.bulk_update(changed, ["facts"])
        Host.objects.filter(pk__in=[h.pk for h in hosts]).update(last_seen_at=_now())

    def _verify(self, body: bytes):
        try:
            return protocol.decode_and_verify(body, keys=self.keys, now=time.time())
        except protocol.ProtocolError as error:
            if error.code != "unknown_sender":
                raise
            self.keys = agent_keyring()  # an agent enrolled since we loaded the keys
            return protocol.decode_and_verify(body, keys=self.keys, now=time.time())

    def run_forever(self) -> None:
        """The loop: small steps, SIGTERM only sets a flag."""
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        self.start()
        while not self.stopping:
            self.bus.step(timeout=0.5)
            liveness.beat("listener")  # /healthz: at most every few seconds, never raises
        self.bus.close()


def _newest(facts: dict[str, tuple[dict, float]], sender: str, result: dict, issued_at: float) -> None:
    """Keep, per host, the facts it reported last (a batch may hold two of its reports)."""
    if sender not in facts or facts[sender][1] <= issued_at:
        facts[sender] = (result, issued_at)


def _facts(result: dict, issued_at: float) -> dict:
    """Host.facts from an agent's report: its packages, last run and when it said so."""
    packages = result.get("packages") if isinstance(result.get("packages"), dict) else {}
    return {
        "packages": {str(k)[:200]: (str(v)[:200] if v is not None else None) for k, v in packages.items()},
        "last_run": result.get("last_run") if isinstance(result.get("last_run"), dict) else None,
        "reported_at": issued_at,
    }


def _now():
    from django.utils import timezone

    return timezone.now()
