"""The envelope: its fields, their rules, the canonical bytes that are signed, and the
check of a received signature.

`orbiter_agent.protocol` describes the wire format and is what callers import.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature

from orbiter_agent.keys import KeyRing
from orbiter_agent.results import validate_result
from orbiter_agent.schema import (
    MAX_TTL_S,
    PROTOCOL_VERSION,
    Code,
    ProtocolError,
    check_id,
    check_report,
    check_sender,
    check_target,
    is_int,
    is_number,
    shown,
    validate_action,
    validate_params,
)

Kind = Literal["request", "reply", "report"]

_COMMON = {"version", "id", "kind", "action", "sender", "issued_at", "expires_at", "signature"}
FIELDS: dict[str, frozenset[str]] = {
    "request": frozenset(_COMMON | {"target", "params"}),
    "reply": frozenset(_COMMON | {"result", "in_reply_to"}),
    "report": frozenset(_COMMON | {"result"}),
}
_ORDERED = {kind: tuple(sorted(names)) for kind, names in FIELDS.items()}
_KINDS = "'request', 'reply' or 'report'"


@dataclass(frozen=True)
class Envelope:
    """One message. A request carries `target` and `params`; a reply carries `result` and
    `in_reply_to`; a report (an agent's unasked facts) carries `result` only."""

    version: int
    id: str
    kind: Kind
    action: str
    sender: str
    issued_at: float
    expires_at: float
    target: str | None = None
    params: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    in_reply_to: str | None = None
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object for this kind of message (fields of the other kinds left out).

        Shallow: `params` and `result` are the envelope's own objects, not copies (a deep
        copy was a quarter of an agent's CPU per request); callers only serialise it."""
        return {name: getattr(self, name) for name in _ORDERED[self.kind]}


def canonical(obj: dict[str, Any]) -> bytes:
    """The bytes that are signed: `obj` without its signature, in one fixed serialisation."""
    return dumps({k: v for k, v in obj.items() if k != "signature"})


def dumps(obj: dict[str, Any]) -> bytes:
    # allow_nan=False only refuses what would not be JSON; valid input serialises the same.
    try:
        return json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:  # also a lone surrogate, refused by encode()
        raise ProtocolError(Code.BAD_FIELD, f"message is not plain JSON: {exc}") from exc
    except RecursionError as exc:  # parse_json_object refuses such depth first; never raise past here
        raise ProtocolError(Code.TOO_DEEP, "message nests too deeply to encode") from exc


def from_object(obj: dict[str, Any]) -> Envelope:
    """The envelope in a received object: exact fields for its kind, each valid."""
    for name in ("version", "kind"):  # they decide which other fields must be there
        if name not in obj:
            raise ProtocolError(Code.MISSING_FIELD, f"message has no {name}", field=name)
    if not is_int(obj["version"]) or obj["version"] != PROTOCOL_VERSION:
        raise ProtocolError(
            Code.WRONG_VERSION,
            f"version must be {PROTOCOL_VERSION}, got {shown(obj['version'])}",
            field="version",
        )
    kind = obj.get("kind")
    if kind not in FIELDS:
        raise ProtocolError(
            Code.BAD_FIELD, f"kind must be {_KINDS}, got {shown(kind)}", field="kind"
        )
    expected = FIELDS[kind]
    for name in sorted(expected - obj.keys()):
        raise ProtocolError(Code.MISSING_FIELD, f"a {kind} needs {name}", field=name)
    for name in sorted(obj.keys() - expected):
        raise ProtocolError(
            Code.EXTRA_FIELD,
            f"{name} is not a field of a {kind}; allowed: {', '.join(sorted(expected))}",
            field=name,
        )
    times = {name: _epoch(obj[name], name) for name in ("issued_at", "expires_at")}
    return checked(Envelope(**{**obj, **times}))


def _epoch(value: Any, name: str) -> float:
    try:
        if is_number(value) and math.isfinite(value):
            return float(value)
    except OverflowError:  # an int too large for a float
        pass
    raise ProtocolError(
        Code.BAD_FIELD, f"{name} must be epoch seconds, got {shown(value)}", field=name
    )


def checked(env: Envelope) -> Envelope:
    """Validate every field of an envelope, returning it with params normalised."""
    check_id(env.id)
    check_sender(env.sender)
    validate_action(env.action)
    for name in ("issued_at", "expires_at"):
        _epoch(getattr(env, name), name)
    ttl = env.expires_at - env.issued_at
    if not 0 < ttl <= MAX_TTL_S:
        raise ProtocolError(
            Code.BAD_FIELD,
            f"expires_at must be after issued_at by at most {MAX_TTL_S}s, got {ttl:g}s",
            field="expires_at",
        )
    if env.kind == "request":
        params = validate_params(env.action, env.params)
        check_target(env.target, env.action)
        return replace(env, params=params)
    if env.kind == "reply":
        check_id(env.in_reply_to, field="in_reply_to")
        validate_result(env.action, env.result)
        return env
    if env.kind == "report":
        check_report(env.sender, env.action)
        validate_result(env.action, env.result)
        return env
    raise ProtocolError(
        Code.BAD_FIELD, f"kind must be {_KINDS}, got {shown(env.kind)}", field="kind"
    )


def verify_signature(obj: dict[str, Any], keys: KeyRing) -> None:
    """Check `obj`'s signature with its sender's key, reading nothing else of it: a forger
    must not get any other field parsed."""
    signature = obj.get("signature")
    if signature is None or signature == "":
        raise ProtocolError(Code.UNSIGNED, "message has no signature", field="signature")
    if "sender" not in obj:
        raise ProtocolError(Code.MISSING_FIELD, "message has no sender", field="sender")
    sender = check_sender(obj["sender"])
    key = keys.get(sender)
    if key is None:
        raise ProtocolError(
            Code.UNKNOWN_SENDER, f"no public key for sender {sender!r}", field="sender"
        )
    try:
        raw = base64.b64decode(signature, validate=True) if isinstance(signature, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise ProtocolError(
            Code.BAD_SIGNATURE,
            "signature must be 64 bytes of Ed25519 in base64",
            field="signature",
        )
    try:
        key.verify(raw, canonical(obj))
    except (InvalidSignature, ProtocolError) as exc:
        raise ProtocolError(
            Code.BAD_SIGNATURE,
            f"signature does not match the message from {sender!r}",
            field="signature",
        ) from exc
