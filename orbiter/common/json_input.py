"""How deep JSON that arrives over HTTP nests, found before it is parsed: `json.loads`
recurses once per level, so a body nested thousands deep would raise RecursionError (a 500)
before anything could check it. One scanner for every HTTP input (the API's parser, agent
enrollment), naming the top-level field at fault. The agent protocol bounds its messages
its own way (orbiter_agent.schema.check_depth: parse, then walk; it names no field).
"""

import json
import re

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:]')


def deeper_than(text: str, limit: int) -> str | None:
    """The top-level field under which nesting passes `limit` ("body" when the body itself is
    the array, or no key is known), else None. Brackets inside strings do not count."""
    if text.count("[") + text.count("{") <= limit:
        return None
    depth, last_string, field = 0, None, "body"
    for token in _TOKENS.finditer(text):
        kind = token.group()
        if kind[0] == '"':
            last_string = kind
        elif kind == ":":
            if depth == 1 and last_string is not None:
                field = _key(last_string)
        elif kind in "[{":
            depth += 1
            if depth > limit:
                return field
        else:
            depth -= 1
            if depth == 1:
                field = "body"
    return None


def _key(literal: str) -> str:
    try:
        return json.loads(literal).replace("\x00", "\\x00")[:100] or "body"
    except ValueError:
        return "body"
