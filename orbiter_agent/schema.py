"""What the agent protocol allows: names, actions, their params, and the one error type.

Every refusal is a `ProtocolError` whose `code` is one of `Code`; its message names the
field at fault and says what is allowed, so an operator can fix the sender.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orbiter_agent.protocol import Envelope

PROTOCOL_VERSION = 1
CONTROL_PLANE = "control-plane"
BROADCAST = "*"  # the target of a request for every host, sent on /topic/orbiter.all
REPORT_ACTION = "facts"  # the one thing an agent reports unasked

SENDER_RE = re.compile(r"[a-z0-9][a-z0-9.-]{0,252}")
ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:-]{0,63}")  # never "-…": not an option to Puppet

MAX_TAGS = 20
# How deeply a message's JSON may nest. A puppet.run reply needs 5 levels; the bound is
# checked right after parsing, before the signature's canonical form is computed
# (encoding ~1,000 levels raised RecursionError in the listener).
MAX_DEPTH = 16
PUPPET_TIMEOUT_RANGE = (1, 7200)
DEFAULT_PUPPET_TIMEOUT_S = 1800
# A request is only worth delivering for so long; the bound also caps how long the
# replay store must keep an id.
MAX_TTL_S = 24 * 3600

ACTIONS = frozenset({"ping", "facts", "puppet.run"})
PARAMS = {"ping": (), "facts": (), "puppet.run": ("noop", "tags", "timeout_s")}


class Code(StrEnum):
    """Why a message or a key was refused; stable strings, safe to log and to match on."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    WRONG_VERSION = "wrong_version"
    MISSING_FIELD = "missing_field"
    EXTRA_FIELD = "extra_field"
    BAD_FIELD = "bad_field"
    UNSIGNED = "unsigned"
    UNKNOWN_SENDER = "unknown_sender"
    BAD_SIGNATURE = "bad_signature"
    ISSUED_IN_FUTURE = "issued_in_future"
    EXPIRED = "expired"
    REPLAY = "replay"
    UNKNOWN_ACTION = "unknown_action"
    BAD_PARAMS = "bad_params"
    BAD_KEY = "bad_key"
    INSECURE_KEY_FILE = "insecure_key_file"
    WRONG_TARGET = "wrong_target"
    TOO_DEEP = "too_deep"
    BAD_RESULT = "bad_result"
    UNRECORDABLE = "unrecordable"  # the control plane could not store a verified message


class ProtocolError(Exception):
    """A refused message, key or value.

    `field` names the offending field when there is one. For `Code.REPLAY` only,
    `envelope` holds the verified request, so the agent can answer it from its stored
    reply instead of running it again.
    """

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        field: str | None = None,
        envelope: Envelope | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.envelope = envelope

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r})"


def shown(value: Any) -> str:
    """A value quoted for an error message, cut short: refusals must not echo a payload."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_name(value: Any, pattern: re.Pattern[str], field: str, allowed: str) -> str:
    """Return `value` if it is a string fully matching `pattern`, else refuse naming `field`."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ProtocolError(
            Code.BAD_FIELD, f"{field} must be {allowed}, got {shown(value)}", field=field
        )
    return value


def check_sender(value: Any, field: str = "sender") -> str:
    return check_name(
        value,
        SENDER_RE,
        field,
        "a lower-case DNS-like name (a-z, 0-9, '.', '-'; up to 253 chars)",
    )


def check_id(value: Any, field: str = "id") -> str:
    return check_name(value, ID_RE, field, "1-128 chars of A-Z a-z 0-9 . _ : -")


def check_target(value: Any, action: str) -> str:
    """A request's target: one host's certname, or BROADCAST for a request to every host.

    `puppet.run` must name its host: a broadcast must never change every host at once.
    """
    if value != BROADCAST:
        check_name(value, SENDER_RE, "target", f"a certname or {BROADCAST!r} (every host)")
    elif action == "puppet.run":
        raise ProtocolError(
            Code.WRONG_TARGET,
            f"puppet.run must target one host's certname, not {BROADCAST!r}",
            field="target",
        )
    return value


def check_report(sender: str, action: str) -> None:
    """A report is an agent's own, unasked `facts`: never the control plane's, nothing else."""
    if sender == CONTROL_PLANE:
        raise ProtocolError(
            Code.BAD_FIELD,
            f"a report is sent by an agent under its certname, not by {CONTROL_PLANE!r}",
            field="sender",
        )
    if action != REPORT_ACTION:
        raise ProtocolError(
            Code.BAD_FIELD,
            f"a report's action must be {REPORT_ACTION!r}, got {shown(action)}",
            field="action",
        )


def validate_action(action: Any) -> str:
    if not isinstance(action, str) or action not in ACTIONS:
        raise ProtocolError(
            Code.UNKNOWN_ACTION,
            f"action must be one of {', '.join(sorted(ACTIONS))}; got {shown(action)}",
            field="action",
        )
    return action


def validate_params(action: str, params: Any) -> dict[str, Any]:
    """Check `params` for `action` and return them with defaults filled in.

    `puppet.run` takes `noop` (bool, required: a wrong default would change hosts),
    `tags` (list of up to 20 names, default []) and `timeout_s` (int 1..7200, default
    1800); `ping` and `facts` take nothing.
    """
    validate_action(action)
    if not isinstance(params, dict):
        raise _bad("params", f"must be an object, got {shown(params)}")
    allowed = PARAMS[action]
    for name in sorted(params):
        if name not in allowed:
            takes = f"allows {', '.join(allowed)}" if allowed else "takes no params"
            raise _bad(f"params.{name}", f"is not a parameter: {action} {takes}")
    if action != "puppet.run":
        return {}
    noop = params.get("noop")
    if not isinstance(noop, bool):
        raise _bad("params.noop", f"must be true or false (required), got {shown(noop)}")
    tags = params.get("tags", [])
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise _bad("params.tags", f"must be a list of at most {MAX_TAGS} tags, got {shown(tags)}")
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
            raise _bad(
                f"params.tags[{i}]",
                f"must be 1-64 chars of A-Z a-z 0-9 _ : -, not starting with - or :, "
                f"got {shown(tag)}",
            )
    timeout = params.get("timeout_s", DEFAULT_PUPPET_TIMEOUT_S)
    low, high = PUPPET_TIMEOUT_RANGE
    if not is_int(timeout) or not low <= timeout <= high:
        raise _bad(
            "params.timeout_s", f"must be an integer from {low} to {high}, got {shown(timeout)}"
        )
    return {"noop": noop, "tags": list(tags), "timeout_s": timeout}


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Strict JSON: UTF-8, an object at the top, no NaN or Infinity, no duplicate keys."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            raise ValueError("duplicate key")
        return obj

    try:
        obj = json.loads(
            data.decode("utf-8"), parse_constant=no_constants, object_pairs_hook=no_duplicates
        )
    except RecursionError as exc:  # deeper than the interpreter's stack allows here
        raise ProtocolError(Code.TOO_DEEP, f"message nests deeper than {MAX_DEPTH} levels") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(Code.NOT_JSON, f"message is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(Code.NOT_JSON, "message must be a JSON object")
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH:  # else it cannot nest too deeply
        check_depth(obj)  # before anything reads it, the canonical form above all
    return obj


def check_depth(obj: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit` (the top object is level 1). Level by level,
    not recursive: a recursive walk would itself fail on what it is meant to refuse."""
    level, depth = [obj], 1
    while level:
        if depth > limit:
            raise ProtocolError(Code.TOO_DEEP, f"message nests deeper than {limit} levels")
        below: list[Any] = []
        for value in level:
            children = value.values() if type(value) is dict else value
            below.extend([child for child in children if type(child) in _CONTAINERS])
        level, depth = below, depth + 1


_CONTAINERS = (dict, list)


def _bad(field: str, what: str) -> ProtocolError:
    return ProtocolError(Code.BAD_PARAMS, f"{field} {what}", field=field)
