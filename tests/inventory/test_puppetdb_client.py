"""The PuppetDB client: PQL over HTTP, few queries for many nodes, and everything PuppetDB
answers treated as untrusted (garbage is a clear error, never a partial answer).

The server here is a small HTTP server on loopback answering what a test gives it; what a
real PuppetDB answers is tested in tests/integration/test_inventory_puppetdb.py."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orbiter.inventory.puppetdb import PuppetDB, PuppetDBError, Wanted


class FakeHTTP:
    """Answers each POST with answer(pql) -> (status, body bytes); records the queries."""

    def __init__(self, answer):
        self.answer, self.queries = answer, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.queries.append((self.path, body["query"]))
                status, data = outer.answer(body["query"])
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(answer):
        server = FakeHTTP(answer)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def rows(data) -> tuple[int, bytes]:
    return 200, json.dumps(data).encode()


def named(pql: str) -> list[str]:
    return json.loads(pql[pql.index("certname in ") + 12:].rstrip(" }"))


def fleet(pql: str):
    if pql.startswith("nodes"):
        return rows([{"certname": f"web-0{i}.example.test"} for i in range(1, 6)]
                    + [{"certname": "old.example.test", "deactivated": "2026-01-01T00:00:00Z"}])
    if pql.startswith("facts"):
        return rows([{"certname": n, "name": "dc", "value": "dc1"} for n in named(pql)])
    if pql.startswith("resources"):
        return rows([{"certname": n, "title": "Shop_api"} for n in named(pql) if n != "web-05.example.test"])
    return 400, b"unexpected query"


def test_it_reads_the_nodes_their_facts_and_classes_in_three_queries(serve):
    server = serve(fleet)
    client = PuppetDB(url=server.url, query="nodes[certname] { }",
                      wanted=Wanted(facts=frozenset({"dc"}), classes=frozenset({"Shop_api"})))

    nodes = {node.certname: node for node in client.nodes()}

    assert sorted(nodes) == ["old.example.test", *(f"web-0{i}.example.test" for i in range(1, 6))]
    assert nodes["web-01.example.test"].facts == {"dc": "dc1"}
    assert nodes["web-01.example.test"].classes == {"Shop_api"}
    assert nodes["web-05.example.test"].classes == frozenset()
    assert not nodes["old.example.test"].active
    assert [path for path, _ in server.queries] == ["/pdb/query/v4"] * 3
    assert server.queries[1][1].startswith('facts[certname, name, value] { name in ["dc"] and certname in [')


def test_past_filter_max_nodes_the_facts_are_asked_by_name_and_other_nodes_dropped(serve):
    def answer(pql):
        if pql.startswith("facts"):
            assert "certname in" not in pql
            return rows([{"certname": f"web-0{i}.example.test", "name": "dc", "value": "dc1"} for i in range(1, 6)]
                        + [{"certname": "elsewhere.example.test", "name": "dc", "value": "dc9"}])
        return fleet(pql)

    server = serve(answer)
    client = PuppetDB(url=server.url, query="nodes[certname] { }", filter_max=2, wanted=Wanted(facts=frozenset({"dc"})))

    nodes = {node.certname: node for node in client.nodes()}

    assert "elsewhere.example.test" not in nodes
    assert nodes["web-05.example.test"].facts == {"dc": "dc1"}
    assert len(server.queries) == 2


def test_only_the_node_query_is_asked_when_nothing_else_is_wanted(serve):
    server = serve(fleet)

    PuppetDB(url=server.url, query="nodes[certname] { }").nodes()

    assert len(server.queries) == 1


@pytest.mark.parametrize("answer, says", [
    ((200, b"<html>proxy error</html>"), "not JSON: <html>proxy error</html>"),
    ((200, b'{"certname": "a.example.test"}'), "not a JSON array"),
    (rows([{"name": "web-01"}]), "a row without a certname"),
    (rows(["web-01.example.test"]), "a row without a certname"),
    (rows([{"certname": "Web 01; rm -rf /"}]), "not a lowercase DNS name"),
    (rows([{"certname": 42}]), "not a lowercase DNS name"),
    ((200, b"[" * 100 + b"]" * 100), "nests deeper than 32"),
    ((400, b"PQL parse error at line 1, column 6"), "HTTP 400: PQL parse error at line 1, column 6"),
    ((500, b""), "HTTP 500: (empty)"),
])
def test_garbage_from_puppetdb_is_a_clear_error(serve, answer, says):
    server = serve(lambda pql: answer)

    with pytest.raises(PuppetDBError) as failed:
        PuppetDB(url=server.url, query="nodes[certname] { }").nodes()

    assert server.url + "/pdb/query/v4" in failed.value.message
    assert says in failed.value.message


def test_an_answer_over_the_size_limit_is_refused(serve):
    server = serve(lambda pql: rows([{"certname": f"web-{i:05d}.example.test"} for i in range(2000)]))

    with pytest.raises(PuppetDBError) as failed:
        PuppetDB(url=server.url, query="nodes[certname] { }", max_bytes=10_000).nodes()

    assert "over the limit of 10000" in failed.value.message


def test_a_fact_row_for_a_node_not_asked_for_is_refused(serve):
    def answer(pql):
        if pql.startswith("facts"):
            return rows([{"certname": "intruder.example.test", "name": "dc", "value": "x"}])
        return fleet(pql)

    server = serve(answer)

    with pytest.raises(PuppetDBError) as failed:
        PuppetDB(url=server.url, query="nodes[certname] { }", wanted=Wanted(facts=frozenset({"dc"}))).nodes()

    assert "not asked for (intruder.example.test: dc)" in failed.value.message


def test_an_oversized_fact_is_left_out_with_a_warning(serve):
    def answer(pql):
        if pql.startswith("facts"):
            return rows([{"certname": "web-01.example.test", "name": "dc", "value": "x" * 20_000}])
        return rows([{"certname": "web-01.example.test"}])

    client = PuppetDB(url=serve(answer).url, query="nodes[certname] { }", wanted=Wanted(facts=frozenset({"dc"})))

    [node] = client.nodes()

    assert node.facts == {}
    assert client.warnings == ["web-01.example.test: fact dc left out: over 16384 bytes"]


def test_a_puppetdb_that_is_down_is_a_clear_error():
    with pytest.raises(PuppetDBError) as failed:
        PuppetDB(url="http://127.0.0.1:9", query="nodes[certname] { }").nodes()

    assert failed.value.message == "http://127.0.0.1:9/pdb/query/v4: connection refused"


def test_names_are_quoted_into_pql_never_spliced(serve):
    server = serve(lambda pql: rows([]) if pql.startswith("facts") else fleet(pql))

    PuppetDB(url=server.url, query="nodes[certname] { }", wanted=Wanted(facts=frozenset({'dc"] or true'}))).nodes()

    assert 'name in ["dc\\"] or true"]' in server.queries[1][1]


def test_binary_bytes_from_a_server_that_is_not_puppetdb_never_reach_the_message():
    import socket

    listener = socket.create_server(("127.0.0.1", 0))

    def answer():  # what a TLS port answers a plain HTTP request: an alert record
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"\x15\x03\x03\x00\x02\x02\x50")
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        with pytest.raises(PuppetDBError) as failed:
            PuppetDB(url=f"http://127.0.0.1:{listener.getsockname()[1]}", query="nodes[certname] { }").nodes()
    finally:
        listener.close()

    assert failed.value.message.isprintable()
    assert "\x00" not in failed.value.message
