"""Where nodes come from: a `NodeSource` answers `nodes()`; `PuppetDB` asks PuppetDB's query
API v4 in PQL, `MemoryNodeSource` holds them in memory (the unit tests' source).

Everything PuppetDB answers is untrusted: each answer is bounded in bytes and nesting,
certnames must be DNS names, facts are bounded per value, and anything else is a
`PuppetDBError` naming the URL and what was wrong, so that the sync changes nothing.

PuppetDB is asked at most three queries, whatever the number of nodes:
1. the source's own PQL: the node set (rows with a certname);
2. the facts the source keeps, labels or maps (`facts[certname, name, value] { name in
   [...] }`), only if it names any;
3. the classes its rules name (`resources[certname, title] { type = "Class" and title in
   [...] }`), only if a rule names a class.
For up to FILTER_MAX nodes, 2 and 3 also say `and certname in [...]`; past that, PuppetDB
takes longer to plan a long `in` list than to answer for every node (5,000 certnames:
10 s; none: 0.5 s for 10,000 nodes), so rows of nodes outside the set are dropped here.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import requests

from orbiter.common.errors import OrbiterError, ValidationError
from orbiter.common.json_input import deeper_than
from orbiter.common.validators import certname as valid_certname

QUERY_PATH = "/pdb/query/v4"
FILTER_MAX = 500  # certnames named in the fact and class queries (beyond: not named)
MAX_NODES = 100_000
MAX_RESPONSE_BYTES = 128 * 1024 * 1024
MAX_DEPTH = 32
MAX_FACT_BYTES = 16 * 1024  # one kept fact's value, as JSON
TIMEOUT_S = 30.0
READ_CHUNK = 256 * 1024


class PuppetDBError(OrbiterError):
    """PuppetDB could not be asked, or answered something that is not what PQL returns."""

    code = "puppetdb_error"
    http_status = 502


@dataclass(frozen=True)
class Node:
    certname: str
    active: bool = True
    classes: frozenset[str] = frozenset()  # as PuppetDB titles them: Shop_api, Profile::Web
    facts: dict = field(default_factory=dict)  # top-level fact name -> value (only those asked for)


@dataclass(frozen=True)
class Wanted:
    """What a sync needs to know about each node besides its certname."""

    facts: frozenset[str] = frozenset()  # top-level fact names
    classes: frozenset[str] = frozenset()  # PuppetDB class titles


class NodeSource(Protocol):
    def nodes(self) -> list[Node]: ...


class MemoryNodeSource:
    """Nodes held in memory; `error` makes `nodes()` fail as an unreachable PuppetDB would."""

    def __init__(self, nodes: Iterable[Node] = (), *, error: str = ""):
        self._nodes = list(nodes)
        self.error = error
        self.calls = 0
        self.warnings: list[str] = []

    def set(self, nodes: Iterable[Node]) -> None:
        self._nodes = list(nodes)

    def nodes(self) -> list[Node]:
        self.calls += 1
        if self.error:
            raise PuppetDBError(self.error)
        return list(self._nodes)


def class_title(name: str) -> str:
    """The title PuppetDB gives a class resource: each `::` segment capitalized
    (shop_api -> Shop_api, profile::web -> Profile::Web)."""
    return "::".join(part[:1].upper() + part[1:].lower() for part in name.split("::"))


class PuppetDB:
    """PuppetDB's query API v4 over HTTP(S), TLS with the Puppet CA and a client certificate."""

    def __init__(self, *, url: str, query: str, wanted: Wanted = Wanted(), ca_file: str = "", cert_file: str = "",
                 key_file: str = "", timeout_s: float = TIMEOUT_S, max_bytes: int = MAX_RESPONSE_BYTES,
                 filter_max: int = FILTER_MAX):
        self.url = url.rstrip("/") + QUERY_PATH
        self.query, self.wanted = query, wanted
        self.verify: str | bool = ca_file or True
        self.cert = (cert_file, key_file) if cert_file else None
        self.timeout_s, self.max_bytes, self.filter_max = timeout_s, max_bytes, filter_max
        self.queries = 0
        self.warnings: list[str] = []

    def nodes(self) -> list[Node]:
        with requests.Session() as http:
            http.headers["User-Agent"] = "orbiter-inventory"
            http.max_redirects = 0
            certnames, inactive = self._certnames(self.ask(http, self.query))
            facts: dict[str, dict] = {name: {} for name in certnames}
            classes: dict[str, set[str]] = {name: set() for name in certnames}
            named = certnames if len(certnames) <= self.filter_max else None
            if certnames and self.wanted.facts:
                for certname, name, value in self._fact_rows(http, named, facts):
                    if len(json.dumps(value)) > MAX_FACT_BYTES:
                        self.warnings.append(f"{certname}: fact {name} left out: over {MAX_FACT_BYTES} bytes")
                    else:
                        facts[certname][name] = value
            if certnames and self.wanted.classes:
                for certname, title in self._class_rows(http, named, classes):
                    classes[certname].add(title)
        return [*(Node(certname=name, classes=frozenset(classes[name]), facts=facts[name]) for name in certnames),
                *(Node(certname=name, active=False) for name in inactive)]

    def ask(self, http: requests.Session, pql: str) -> list:
        """POST one PQL query; its rows (a JSON array), or PuppetDBError saying what went wrong."""
        self.queries += 1
        try:
            response = http.post(self.url, json={"query": pql}, verify=self.verify, cert=self.cert, stream=True,
                                 timeout=(self.timeout_s, self.timeout_s))
        except requests.exceptions.SSLError as error:
            raise PuppetDBError(f"{self.url}: TLS failed ({_innermost(error)}); check ca_file, cert_file and "
                                "key_file") from None
        except requests.Timeout:
            raise PuppetDBError(f"{self.url}: no answer within {self.timeout_s:g}s") from None
        except requests.RequestException as error:
            raise PuppetDBError(f"{self.url}: {_innermost(error)}") from None
        except OSError as error:  # a certificate or key file that cannot be read
            raise PuppetDBError(f"{self.url}: {error}") from None
        with response:
            body = self._body(response)
            if response.status_code != 200:
                raise PuppetDBError(f"{self.url}: HTTP {response.status_code}: {_printable(body)}")
        text = body.decode("utf-8", errors="replace")
        if deeper_than(text, MAX_DEPTH):
            raise PuppetDBError(f"{self.url}: the answer nests deeper than {MAX_DEPTH} levels")
        try:
            rows = json.loads(text)
        except ValueError:
            raise PuppetDBError(f"{self.url}: the answer is not JSON: {_printable(body)}") from None
        if not isinstance(rows, list):
            raise PuppetDBError(f"{self.url}: the answer is not a JSON array of rows: {_printable(body)}")
        return rows

    def _body(self, response: requests.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise PuppetDBError(f"{self.url}: an answer of {declared} bytes is over the limit of {self.max_bytes}")
        deadline = time.monotonic() + 10 * self.timeout_s
        chunks, total = [], 0
        try:
            for chunk in response.iter_content(READ_CHUNK):
                total += len(chunk)
                if total > self.max_bytes:
                    raise PuppetDBError(f"{self.url}: an answer over the limit of {self.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise PuppetDBError(f"{self.url}: the answer took longer than {10 * self.timeout_s:g}s")
                chunks.append(chunk)
        except requests.RequestException as error:
            raise PuppetDBError(f"{self.url}: {_innermost(error)}") from None
        return b"".join(chunks)

    def _certnames(self, rows: list) -> tuple[list[str], list[str]]:
        """The active nodes' certnames and the inactive ones' (a query with node_state = 'any'
        returns deactivated and expired nodes too), each sorted."""
        if len(rows) > MAX_NODES:
            raise PuppetDBError(f"{self.url}: the query returned {len(rows)} rows, over the limit of {MAX_NODES}")
        names, inactive = set(), set()
        for row in rows:
            name = row.get("certname") if isinstance(row, dict) else None
            if name is None:
                raise PuppetDBError(f"{self.url}: a row without a certname ({_printable(json.dumps(row))}); the "
                                    "query must return nodes, e.g. nodes[certname] { ... }")
            (inactive if row.get("deactivated") or row.get("expired") else names).add(_certname(self.url, name))
        return sorted(names), sorted(inactive - names)

    def _fact_rows(self, http: requests.Session, named: list[str] | None, nodes: dict):
        """(certname, name, value) of the wanted facts of `nodes`; `named`: the certnames the
        query names (None: not named, rows of other nodes are dropped)."""
        pql = f"facts[certname, name, value] {{ name in {_pql_list(sorted(self.wanted.facts))}{_and_in(named)} }}"
        for row in self.ask(http, pql):
            if not isinstance(row, dict) or not {"certname", "name", "value"} <= set(row):
                raise PuppetDBError(f"{self.url}: a fact row is not {{certname, name, value}}: "
                                    f"{_printable(json.dumps(row))}")
            certname, name = _certname(self.url, row["certname"]), row["name"]
            if name not in self.wanted.facts or (named is not None and certname not in nodes):
                raise PuppetDBError(f"{self.url}: a fact that was not asked for ({certname}: {_printable(name)})")
            if certname in nodes:
                yield certname, name, row["value"]

    def _class_rows(self, http: requests.Session, named: list[str] | None, nodes: dict):
        pql = (f"resources[certname, title] {{ type = \"Class\" and title in "
               f"{_pql_list(sorted(self.wanted.classes))}{_and_in(named)} }}")
        for row in self.ask(http, pql):
            if not isinstance(row, dict) or not isinstance(row.get("title"), str):
                raise PuppetDBError(f"{self.url}: a class row is not {{certname, title}}: "
                                    f"{_printable(json.dumps(row))}")
            certname = _certname(self.url, row.get("certname"))
            if named is not None and certname not in nodes:
                raise PuppetDBError(f"{self.url}: a class of a node that was not asked for ({certname})")
            if certname in nodes:
                yield certname, row["title"]


def _and_in(named: list[str] | None) -> str:
    return "" if named is None else f" and certname in {_pql_list(named)}"


def _certname(url: str, value) -> str:
    try:
        return valid_certname("certname", value)
    except ValidationError:
        raise PuppetDBError(f"{url}: PuppetDB returned a certname that is not a lowercase DNS name: "
                            f"{_printable(json.dumps(value))}") from None


def _pql_list(values: list[str]) -> str:
    # json.dumps quotes as PQL does (double quotes, backslash escapes): names never splice.
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def _printable(data: bytes | str, limit: int = 200) -> str:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)
    text = "".join(c if c.isprintable() else " " for c in text[: limit * 2]).strip()
    return text[:limit] + ("…" if len(text) > limit else "") or "(empty)"


def _innermost(error: BaseException) -> str:
    cause = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    text = str(cause) or type(cause).__name__
    if "Connection refused" in text:
        return "connection refused"
    # What a server that is not PuppetDB sent back (a TLS port spoken to in clear answers
    # binary bytes) ends up in the message: printable only, bounded.
    return _printable(text, limit=300)
