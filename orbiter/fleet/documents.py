"""Reading fleet files: YAML as untrusted input, then the schema's structural checks.

The text is bounded before it is parsed (size), while it is parsed (nesting depth, aliases,
duplicate keys) and after (the number of values, counted as if aliases were expanded, so a
"billion laughs" document stops at the bound instead of exhausting memory downstream).
YAML 1.1's surprises are turned off: `18:00` stays a string (not 1080, base 60), dates stay
strings, `010` is not octal.
"""

import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from orbiter.fleet.errors import FleetError, Place, Problem
from orbiter.fleet.schema import DEFINITIONS, document_schema

MAX_BYTES = 8 * 1024 * 1024  # all files together
MAX_FILES = 500
MAX_DOCUMENTS = 1000
MAX_DEPTH = 20  # the deepest real value (a gate's options inside a pipeline) is ~8
MAX_ALIASES = 200
MAX_VALUES = 500_000  # scalars, mappings and lists, aliases counted as expanded
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class Document:
    place: Place
    data: dict


# --- YAML ------------------------------------------------------------------------------------

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?([0-9][0-9_]*)?\.[0-9_]+([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")
_REPLACED = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}


class _Refused(Exception):
    def __init__(self, message: str, mark=None):
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark is not None else None


# libyaml's parser (C) when present, five times faster; the composing stays in Python, where
# depth and aliases are counted before anything recurses.
if yaml.__with_libyaml__:
    _PARSING = (yaml.cyaml.CParser,)
else:  # pragma: no cover - PyYAML built without libyaml
    _PARSING = (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser)


class FleetLoader(yaml.composer.Composer, *_PARSING, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """A safe loader, bounded: depth and aliases counted while composing, duplicate keys refused."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream):
        if yaml.__with_libyaml__:
            yaml.cyaml.CParser.__init__(self, stream)
        else:  # pragma: no cover
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} aliases (*name); write the values out", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise _Refused("keys must be plain strings", key_node.start_mark)
                if key in seen:
                    raise _Refused(f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


FleetLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
FleetLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def parse_text(text: str, source: str) -> list[Document]:
    """The documents of one YAML text (empty documents skipped), each checked structurally."""
    if len(text.encode()) > MAX_BYTES:
        raise FleetError.one(Place(source, 1), "", f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    if "\x00" in text:
        raise FleetError.one(Place(source, 1), "", "NUL characters are not allowed")
    documents = []
    loader = FleetLoader(text)
    index = 0
    try:
        while loader.check_data():
            index += 1
            if index > MAX_DOCUMENTS:
                raise _Refused(f"more than {MAX_DOCUMENTS} documents")
            data = loader.get_data()
            if data is not None:
                documents.append(Document(Place(source, index), data))
    except _Refused as refused:
        line = f"line {refused.line}: " if refused.line else ""
        raise FleetError.one(Place(source, max(index, 1)), "", line + refused.message) from None
    except yaml.YAMLError as error:
        raise FleetError.one(Place(source, max(index, 1)), "", f"not valid YAML: {error}") from None
    except RecursionError:
        raise FleetError.one(Place(source, max(index, 1)), "", f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    for document in documents:
        check(document)
    return documents


def read_path(path: str) -> list[Document]:
    """A file, or a directory's *.yaml and *.yml files (sorted by name, not recursive); "-" is
    read by the caller."""
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise FleetError.one(None, "", f"{path}: no *.yaml or *.yml file in this directory")
    elif root.is_file():
        files = [root]
    else:
        raise FleetError.one(None, "", f"{path}: no such file or directory")
    if len(files) > MAX_FILES:
        raise FleetError.one(None, "", f"{path}: more than {MAX_FILES} files")
    texts = []
    total = 0
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FleetError.one(None, "", f"{file}: cannot read it: {error}") from None
        total += len(text.encode())
        if total > MAX_BYTES:
            raise FleetError.one(None, "", f"{path}: the files are larger than {MAX_BYTES // (1024 * 1024)} MiB")
        texts.append((str(file), text))
    return [document for source, text in texts for document in parse_text(text, source)]


def from_data(items: list, source: str = "request") -> list[Document]:
    """Documents given as JSON (the API's `documents`): the same checks as YAML's."""
    if not isinstance(items, list) or len(items) > MAX_DOCUMENTS:
        raise FleetError.one(None, "documents", f"give a list of at most {MAX_DOCUMENTS} documents")
    documents = [Document(Place(source, i), item) for i, item in enumerate(items, start=1) if item is not None]
    for document in documents:
        check(document)
    return documents


# --- structure -------------------------------------------------------------------------------


def check(document: Document) -> None:
    """Bounded size, then the schema: every problem found, each with its path."""
    place = document.place
    if not isinstance(document.data, dict):
        raise FleetError.one(place, "", "a document is a mapping of kinds, e.g. applications: [...]; "
                                        f"allowed kinds: {', '.join(DEFINITIONS)}")
    _count_values(place, document.data)
    problems = []
    for error in sorted(_validator().iter_errors(document.data), key=_document_order):
        problems.append(Problem(place, path_of(document.data, list(error.absolute_path)), _message(error)))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise FleetError(problems)


def _document_order(error) -> list:
    """Problems in the order a reader meets them: list items by position (10 after 9)."""
    return [(0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in error.absolute_path]


@cache
def _validator() -> Draft202012Validator:
    schema = document_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _count_values(place: Place, data) -> None:
    """Walk the value as a tree, stopping at MAX_VALUES (aliases make a graph that can stand
    for an exponential tree: every later walk — the schema, the diff, JSON — would expand it)."""
    count = 0
    stack = [data]
    while stack:
        value = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise FleetError.one(place, "", f"more than {MAX_VALUES} values (aliases counted as expanded)")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise FleetError.one(place, "", f"key {key!r}: keys must be strings (quote it)")
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)


def path_of(data, parts: list) -> str:
    """['applications', 3, 'rollout', 'batch_size'] -> 'applications[shop-api].rollout.batch_size'
    (a list item is named by its name when it has one, else by its position)."""
    out = ""
    value = data
    for part in parts:
        if isinstance(part, int):
            item = value[part] if isinstance(value, list) and part < len(value) else None
            out += f"[{identity_of(item) or part}]"
        else:
            out += f".{part}" if out else str(part)
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            value = None
    return out


def identity_of(item) -> str | None:
    """How a list item is named in paths and messages: its name (a pipeline: its application;
    a role binding: who/role/where)."""
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("name"), str):
        return item["name"]
    if isinstance(item.get("application"), str) and "stages" in item:
        return item["application"]
    if "role" in item and ("user" in item or "group" in item):
        who = f"user:{item['user']}" if "user" in item else f"group:{item.get('group')}"
        return f"{who}/{item.get('role')}/{item.get('environment') or '*'}"
    return None


def _message(error) -> str:
    """jsonschema's message, rewritten to say what is allowed."""
    schema, value = error.schema, error.instance
    if error.validator == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed))
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"unknown key(s) {', '.join(hints)}; allowed: {', '.join(allowed)}"
    if error.validator == "required":
        return f"missing {error.message.split(' ')[0]}"
    if error.validator == "enum":
        return f"{value!r} is not allowed; allowed: {', '.join(map(str, schema['enum']))}"
    if error.validator == "type":
        wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        names = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
                 "number": "a number", "boolean": "true or false"}
        return f"{value!r} is not allowed; give {' or '.join(names.get(w, w) for w in wanted)}"
    if error.validator == "pattern":
        return f"{value!r} is not allowed; {schema.get('description') or 'must match ' + schema['pattern']}"
    if error.validator == "oneOf" and isinstance(value, dict) and "role" in value:
        return "give exactly one of user or group"
    if error.validator == "oneOf" and isinstance(value, dict) and "application" in value:
        return ('give {"application": NAME, "class": CLASS} or {"application": NAME, "fact": FACT, '
                '"value": VALUE}')
    if error.validator in ("minimum", "maximum", "exclusiveMinimum"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum")
        span = f"from {low} to {high}" if low is not None and high is not None else f"at most {high}" \
            if high is not None else f"at least {low}"
        return f"{value!r} is not allowed; give a number {span}"
    if error.validator == "uniqueItems":
        return "an item is listed twice"
    return error.message
