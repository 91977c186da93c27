"""The agent protocol: signed JSON envelopes between the control plane and node agents.

Both sides import this module; it has no Django dependency.

Wire format
-----------
One STOMP message body is one UTF-8 JSON object (at most 64 KiB). A request:

    {"action":"puppet.run","expires_at":1767225900.0,"id":"6f1c2a0e-9b7d-4c1e-8f3a-2d5b9e7c4a10",
     "issued_at":1767225600.0,"kind":"request",
     "params":{"noop":false,"tags":["shop_api"],"timeout_s":1800},
     "sender":"control-plane","signature":"<base64 of 64 bytes>",
     "target":"web-01.example.test","version":1}

`target` is the certname of the one host the request is for, or "*" for a broadcast on
/topic/orbiter.all (never for puppet.run). It is signed: an agent refuses a request
meant for another host (`wrong_target`) even when it arrives on its own queue, so
someone with broker access cannot move a request from one host's queue to another's.

A reply has `result` (an object with a boolean "ok") and `in_reply_to` (the request's
id) instead of `target` and `params`, keeps the request's `action`, and is sent by the
agent under its certname. A `puppet.run` reply's result also carries `facts` (the report's
`packages` and `last_run`, read after the run): an addition inside `result`, which is the
action's to define, so version 1 still holds; receivers that do not know it ignore it. A
report is what an agent sends unasked (when it connects): kind "report", action "facts",
a `result` and no `in_reply_to`:

    {"action":"facts","expires_at":1767229200.0,"id":"0d8e5b7a-1c2f-4e3d-9a6b-5f4c3b2a1e0d",
     "issued_at":1767225600.0,"kind":"report",
     "result":{"certname":"web-01.example.test","last_run":null,"ok":true,
               "packages":{"puppet-agent":"7.23.0-1+deb12u1"}},
     "sender":"web-01.example.test","signature":"<base64 of 64 bytes>","version":1}

It is signed and verified like a reply (`decode_and_verify`, which refuses a report from
"control-plane" or of another action); the receiver tells them apart by `kind`. Times
are UTC epoch seconds.

The signature is Ed25519 over the canonical form: the object without `signature`,
serialised by `canonical()` (sorted keys, no spaces, UTF-8). `decode_and_verify`:

1. refuses a body over `max_bytes`, or one that is not a JSON object;
2. reads `sender` and `signature` only to pick the key, and verifies the signature over
   the canonical form of what was received — nothing else is read before that;
3. then checks version, the exact set of fields, each field, action and params;
4. then, given the receiving agent's certname as `recipient`, a request's target;
5. then time: issued no later than `now + max_skew_s`, not yet expired;
6. then, given a `ReplayStore`, that the id was not seen before (the error then carries
   the verified envelope, so the agent can resend its stored reply).

Because `version` is read only after the signature is verified, a future version must
keep this signing form.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orbiter_agent.envelope import (
    Envelope,
    canonical,
    checked,
    dumps,
    from_object,
    verify_signature,
)
from orbiter_agent.keys import (
    KeyFileError,
    KeyRing,
    generate_keypair,
    load_private_key,
    parse_public_key,
    write_private_key,
    write_public_key,
)
from orbiter_agent.replay import ReplayStore
from orbiter_agent.results import validate_result
from orbiter_agent.schema import (
    ACTIONS,
    BROADCAST,
    CONTROL_PLANE,
    MAX_TTL_S,
    PROTOCOL_VERSION,
    Code,
    ProtocolError,
    is_number,
    parse_json_object,
    shown,
    validate_params,
)

__all__ = [
    "ACTIONS",
    "BROADCAST",
    "CONTROL_PLANE",
    "MAX_BYTES",
    "PROTOCOL_VERSION",
    "Code",
    "Envelope",
    "KeyFileError",
    "KeyRing",
    "ProtocolError",
    "ReplayStore",
    "canonical",
    "decode_and_verify",
    "encode",
    "generate_keypair",
    "load_private_key",
    "make_reply",
    "make_report",
    "make_request",
    "parse",
    "parse_public_key",
    "sign",
    "verify_object",
    "write_private_key",
    "write_public_key",
]

MAX_BYTES = 64 * 1024
REPLY_TTL_S = 600.0
# A report is only a snapshot, but one that waits out a short control-plane outage on the
# broker is still worth recording; the agent sends a fresh one at each (re)connection.
REPORT_TTL_S = 3600.0


def make_request(
    action: str,
    params: dict[str, Any],
    *,
    target: str,
    sender: str,
    ttl_s: float,
    now: float,
    id: str | None = None,
) -> Envelope:
    """A new, unsigned request for the host `target` (a certname, or BROADCAST for every
    host; not for puppet.run); params are validated and their defaults filled in."""
    return checked(
        Envelope(
            version=PROTOCOL_VERSION,
            id=str(uuid.uuid4()) if id is None else id,
            kind="request",
            action=action,
            sender=sender,
            issued_at=float(now),
            expires_at=float(now + _ttl(ttl_s)),
            target=target,
            params=validate_params(action, params),
        )
    )


def make_report(
    result: dict[str, Any], *, sender: str, now: float, ttl_s: float = REPORT_TTL_S
) -> Envelope:
    """A new, unsigned report: an agent's facts (`{"ok": true, ...}`), sent unasked."""
    return checked(
        Envelope(
            version=PROTOCOL_VERSION,
            id=str(uuid.uuid4()),
            kind="report",
            action="facts",
            sender=sender,
            issued_at=float(now),
            expires_at=float(now + _ttl(ttl_s)),
            result=validate_result("facts", result),
        )
    )


def _ttl(ttl_s: float) -> float:
    if not is_number(ttl_s) or not 0 < ttl_s <= MAX_TTL_S:
        raise ProtocolError(
            Code.BAD_FIELD,
            f"ttl_s must be a number of seconds in (0, {MAX_TTL_S}], got {shown(ttl_s)}",
            field="ttl_s",
        )
    return ttl_s


def make_reply(
    request: Envelope,
    result: dict[str, Any],
    *,
    sender: str,
    now: float,
    ttl_s: float = REPLY_TTL_S,
) -> Envelope:
    """A new, unsigned reply to `request`.

    It stays valid at least as long as the request, so a reply stored for a redelivered
    request is still accepted when sent again.
    """
    return checked(
        Envelope(
            version=PROTOCOL_VERSION,
            id=str(uuid.uuid4()),
            kind="reply",
            action=request.action,
            sender=sender,
            issued_at=float(now),
            expires_at=float(max(request.expires_at, now + ttl_s)),
            result=validate_result(request.action, result),
            in_reply_to=request.id,
        )
    )


def sign(envelope: Envelope, private_key: Ed25519PrivateKey) -> Envelope:
    """Return `envelope` signed with `private_key` (any earlier signature is replaced)."""
    checked(envelope)
    signature = private_key.sign(canonical(envelope.to_dict()))
    return replace(envelope, signature=base64.b64encode(signature).decode("ascii"))


def encode(envelope: Envelope, *, max_bytes: int = MAX_BYTES) -> bytes:
    """The message body to send. Refuses what is unsigned, or too large to be accepted."""
    if not envelope.signature:
        raise ProtocolError(
            Code.UNSIGNED, "sign the envelope before encoding it", field="signature"
        )
    data = dumps(envelope.to_dict())
    if len(data) > max_bytes:
        raise ProtocolError(
            Code.TOO_LARGE, f"message is {len(data)} bytes; receivers accept at most {max_bytes}"
        )
    return data


def decode_and_verify(
    data: bytes,
    *,
    keys: KeyRing,
    now: float,
    max_skew_s: float = 60,
    max_bytes: int = MAX_BYTES,
    seen: ReplayStore | None = None,
    recipient: str | None = None,
) -> Envelope:
    """Parse and verify one received message; see the module docstring for the order.

    An agent passes its certname as `recipient`, so a request for another host is
    refused (`wrong_target`) before its time or id is even looked at.
    """
    return verify_object(
        parse(data, max_bytes=max_bytes),
        keys=keys,
        now=now,
        max_skew_s=max_skew_s,
        seen=seen,
        recipient=recipient,
    )


def parse(data: bytes, *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Step 1 alone: the body as a JSON object, bounded in size and depth. Needs no key,
    so a receiver can read `sender` and look up that one key before `verify_object`."""
    if len(data) > max_bytes:
        raise ProtocolError(
            Code.TOO_LARGE, f"message is {len(data)} bytes; at most {max_bytes} are accepted"
        )
    return parse_json_object(data)


def verify_object(
    obj: dict[str, Any],
    *,
    keys: KeyRing,
    now: float,
    max_skew_s: float = 60,
    seen: ReplayStore | None = None,
    recipient: str | None = None,
) -> Envelope:
    """Steps 2-6 of `decode_and_verify` on an object `parse` returned."""
    verify_signature(obj, keys)
    envelope = from_object(obj)
    if recipient is not None and envelope.kind == "request":
        if envelope.target not in (recipient, BROADCAST):
            raise ProtocolError(
                Code.WRONG_TARGET,
                f"request is for {shown(envelope.target)}, not for this host {recipient!r}",
                field="target",
            )
    if envelope.issued_at > now + max_skew_s:
        raise ProtocolError(
            Code.ISSUED_IN_FUTURE,
            f"issued_at is {envelope.issued_at - now:.0f}s ahead of this clock "
            f"(at most {max_skew_s:g}s allowed): check NTP on both sides",
            field="issued_at",
        )
    if now >= envelope.expires_at:
        raise ProtocolError(
            Code.EXPIRED,
            f"message expired {now - envelope.expires_at:.0f}s ago",
            field="expires_at",
        )
    if seen is not None and seen.seen(envelope.id):
        raise ProtocolError(
            Code.REPLAY,
            f"message {envelope.id} was already received",
            field="id",
            envelope=envelope,
        )
    return envelope
