"""The API's JSON parser, bounded: nesting deeper than MAX_DEPTH, or a NUL character in any
key or string (PostgreSQL cannot store one), is a 400 naming the field — before a view, a
serializer or the database sees it. Found: deeply nested JSON was a 500 (RecursionError)."""

import json

from rest_framework import exceptions, parsers

from orbiter.common.json_input import deeper_than

MAX_DEPTH = 32  # the deepest real body (a deployment's strategy, a driver's options) is ~4


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"JSON parse error: the body is not {encoding}") from None
        # Depth is counted on the text first: json.loads itself would recurse into the
        # deepest nesting (RecursionError) before anything could be checked.
        too_deep = deeper_than(text, MAX_DEPTH)
        if too_deep is not None:
            raise exceptions.ValidationError({too_deep: [f"nested deeper than {MAX_DEPTH} levels"]})
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
        where = _nul_in(data)
        if where is not None:
            raise exceptions.ValidationError({where: ["NUL characters are not allowed"]})
        return data


def _nul_in(value, path: str = "") -> str | None:
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return here.replace("\x00", "\\x00")
            found = _nul_in(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, f"{path}[{index}]" if path else f"[{index}]")
            if found:
                return found
    return None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
