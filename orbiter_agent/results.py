"""What each action's result may hold: types, bounds, and no NUL characters.

A result crosses a trust boundary twice: the agent builds it from Puppet's files and
output, and the control plane stores and shows it. Both sides check it here, the agent
in `make_reply`/`make_report` (so it never sends what the listener would refuse), the
listener in `decode_and_verify` before anything is written.

Every field an action defines is checked: counts are non-negative integers, strings are
bounded and NUL-free (PostgreSQL stores no NUL, in text or in jsonb), lists and maps
are bounded. A key no action defines is allowed (`result` is the action's to define:
a newer agent may add one) but never read, never stored; the message's size (64 KiB)
and depth (`schema.MAX_DEPTH`) bound it like everything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from orbiter_agent.schema import (
    MAX_DEPTH,
    MAX_TAGS,
    SENDER_RE,
    TAG_RE,
    Code,
    ProtocolError,
    check_depth,
    is_int,
    is_number,
    shown,
)

MAX_TEXT = 4000  # an error or a message: enough for a Python traceback's last line
MAX_TAIL = 4000  # Puppet's output tail (orbiter_agent.puppet.TAIL_CHARS)
MAX_LOG_ENTRIES = 20  # orbiter_agent.puppet.MAX_LOGS
MAX_LOG_TEXT = 500
MAX_PACKAGES = 500
MAX_NAME = 200  # a package name or version, a Puppet version, a status word
MAX_COUNT = 2**53 - 1  # what JSON numbers hold exactly everywhere
RESOURCE_KEYS = 32

Check = Callable[[Any, str], None]


def _refuse(field: str, what: str, value: Any) -> ProtocolError:
    return ProtocolError(Code.BAD_RESULT, f"{field} must be {what}, got {shown(value)}", field=field)


def text(limit: int) -> Check:
    def check(value: Any, field: str) -> None:
        if not isinstance(value, str) or len(value) > limit or "\x00" in value:
            raise _refuse(field, f"a string of at most {limit} characters without NUL", value)

    return check


def optional(check: Check) -> Check:
    def maybe(value: Any, field: str) -> None:
        if value is not None:
            check(value, field)

    return maybe


def boolean(value: Any, field: str) -> None:
    if not isinstance(value, bool):
        raise _refuse(field, "true or false", value)


def count(value: Any, field: str) -> None:
    if not is_int(value) or not 0 <= value <= MAX_COUNT:
        raise _refuse(field, "a non-negative integer", value)


def seconds(value: Any, field: str) -> None:
    if not is_number(value) or not math.isfinite(value) or not 0 <= value <= MAX_COUNT:
        raise _refuse(field, "a non-negative number of seconds", value)


def exit_code(value: Any, field: str) -> None:
    if not is_int(value) or not -255 <= value <= 255:
        raise _refuse(field, "a process exit code (an integer from -255 to 255)", value)


def certname(value: Any, field: str) -> None:
    if not isinstance(value, str) or not SENDER_RE.fullmatch(value):
        raise _refuse(field, "a certname", value)


def tags(value: Any, field: str) -> None:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise _refuse(field, f"a list of at most {MAX_TAGS} tags", value)
    for i, tag in enumerate(value):
        if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
            raise _refuse(f"{field}[{i}]", "a tag (1-64 chars of A-Z a-z 0-9 _ : -)", tag)


def resources(value: Any, field: str) -> None:
    if not isinstance(value, dict) or len(value) > RESOURCE_KEYS:
        raise _refuse(field, f"an object of at most {RESOURCE_KEYS} counts", value)
    for key, number in value.items():
        text(64)(key, f"{field} key")
        count(number, f"{field}.{key}")


def logs(value: Any, field: str) -> None:
    if not isinstance(value, list) or len(value) > MAX_LOG_ENTRIES:
        raise _refuse(field, f"a list of at most {MAX_LOG_ENTRIES} log entries", value)
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise _refuse(f"{field}[{i}]", "an object with level, source and message", entry)
        for key in ("level", "source", "message"):
            optional(text(MAX_LOG_TEXT))(entry.get(key), f"{field}[{i}].{key}")


def packages(value: Any, field: str) -> None:
    if not isinstance(value, dict) or len(value) > MAX_PACKAGES:
        raise _refuse(field, f"an object of at most {MAX_PACKAGES} package versions", value)
    for name, version in value.items():
        text(MAX_NAME)(name, f"{field} key")
        optional(text(MAX_NAME))(version, f"{field}.{name}")


def config_version(value: Any, field: str) -> None:
    if value is not None and not is_int(value):
        text(MAX_NAME)(value, field)


def shape(fields: dict[str, Check]) -> Check:
    """An object whose named fields (each optional) pass their checks."""

    def check(value: Any, field: str) -> None:
        if not isinstance(value, dict):
            raise _refuse(field, "an object", value)
        for name, check_field in fields.items():
            if name in value:
                check_field(value[name], f"{field}.{name}")

    return check


# orbiter_agent.puppet._summary_fields
LAST_RUN_CHECKS: dict[str, Check] = {
    "resources": resources,
    "time_s": optional(seconds),
    "last_run": optional(seconds),
    "puppet_version": optional(text(MAX_NAME)),
    "config_version": config_version,
}
LAST_RUN_FIELDS = tuple(LAST_RUN_CHECKS)  # what a receiver may store of it
LAST_RUN = shape(LAST_RUN_CHECKS)
FACTS = {"certname": certname, "packages": packages, "last_run": optional(LAST_RUN)}

# Every result: what went wrong, and whether trying again may help.
COMMON: dict[str, Check] = {
    "ok": boolean,
    "transient": boolean,
    "permanent": boolean,
    "error": text(MAX_TEXT),
    "code": text(64),
    "truncated": boolean,
}

# orbiter_agent.puppet.RunResult.to_dict(), plus the facts read after the run
RESULTS: dict[str, dict[str, Check]] = {
    "ping": {"pong": certname, "time": seconds},
    "facts": FACTS,
    "puppet.run": {
        "status": text(32),
        "kind": text(64),
        "message": text(MAX_TEXT),
        "exit_code": optional(exit_code),
        "changed": boolean,
        "noop": boolean,
        "tags": tags,
        "duration_s": seconds,
        "resources": optional(resources),
        "puppet_time_s": optional(seconds),
        "puppet_version": optional(text(MAX_NAME)),
        "report_status": optional(text(32)),
        "logs": logs,
        "output_tail": text(MAX_TAIL),
        "facts": shape(FACTS),
    },
}


def validate_result(action: str, result: Any) -> dict[str, Any]:
    """Check `result` for `action`: an object with a boolean `ok`, each field it defines
    of its type and within its bounds. Refuses with `Code.BAD_RESULT` naming the field."""
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        raise ProtocolError(
            Code.BAD_FIELD,
            f"result must be an object with a boolean 'ok', got {shown(result)}",
            field="result",
        )
    check_depth(result, MAX_DEPTH - 1)  # the envelope is the first level
    shape({**COMMON, **RESULTS.get(action, {})})(result, "result")
    return result
