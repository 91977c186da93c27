"""The haproxy driver against a real HAProxy (lab/services.py) in front of small HTTP servers
on loopback: the shared contract, then what is HAProxy's own (scur while draining, maint,
errors, a TCP stats socket, option checks).

Skipped with the reason when haproxy is missing; with ORBITER_REQUIRE_SERVICES=1 that is a
failure instead. Install: .venv/bin/python lab/services.py ensure-installed --services haproxy
"""

import contextlib
import http.client
import http.server
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from lab.services import HAProxy, free_port, started
from orbiter.common.errors import DriverError, ValidationError
from orbiter.loadbalancers.base import DOWN, DRAIN, UP, MemberState, driver_for, registry
from orbiter.loadbalancers.drivers.haproxy import HAProxyLoadBalancer
from orbiter.loadbalancers.models import Pool
from tests.loadbalancers.contract import LoadBalancerContract

BACKEND = "shop"
# Member names as Orbiter knows them -> server names in haproxy.cfg (the `servers` option).
SERVERS = {"shop-api-cert-01": "s1", "shop-api-cert-02": "s2", "shop-api-cert-03": "s3"}
HOLD_MAX_S = 10  # a held request never outlives a test by more than this


class Backend(http.server.ThreadingHTTPServer):
    """One application server: /health for HAProxy's checks, /slow answers after 1 s, /hold
    sends its headers (X-Server: its name) at once and the body when `release` is set."""

    daemon_threads = True

    def __init__(self, name: str):
        super().__init__(("127.0.0.1", 0), Handler)
        self.name, self.release = name, threading.Event()
        threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True).start()

    def handle_error(self, request, client_address):
        pass  # HAProxy's checks hang up as soon as they have the status line

    def stop(self):
        self.release.set()
        self.shutdown()
        self.server_close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("X-Server", self.server.name)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if self.path == "/slow":
            time.sleep(1)
        elif self.path == "/hold":
            self.wfile.flush()
            self.server.release.wait(HOLD_MAX_S)
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def config(backends: list[Backend], port: int, extra_global: str = "") -> str:
    servers = "\n".join(
        f"    server {b.name} 127.0.0.1:{b.server_address[1]} check" for b in backends
    )
    return f"""{extra_global}
backend {BACKEND}
    balance roundrobin
    option http-no-delay  # forward a held response's headers at once, not corked 200 ms
    timeout server 30s
    option httpchk GET /health
    default-server inter 500ms fastinter 200ms downinter 500ms fall 2 rise 2
{servers}

frontend web
    bind 127.0.0.1:{port}
    timeout client 30s
    default_backend {BACKEND}
"""


def require_haproxy():
    if HAProxy.installed():
        return
    fix = ".venv/bin/python lab/services.py ensure-installed --services haproxy"
    if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"haproxy is required (ORBITER_REQUIRE_SERVICES=1) but missing; install: {fix}")
    pytest.skip(f"haproxy not installed; install: {fix}")


class Lab:
    def __init__(self, haproxy: HAProxy, backends: list[Backend], port: int):
        self.haproxy, self.backends, self.port = haproxy, backends, port
        self.open: list[http.client.HTTPConnection] = []

    def driver(self, **options) -> HAProxyLoadBalancer:
        base = {"socket": str(self.haproxy.socket), "backend": BACKEND, "servers": SERVERS}
        return HAProxyLoadBalancer("shop-api-cert", {**base, **options})

    def get(self, path: str) -> http.client.HTTPResponse:
        """A request through the frontend; the response's headers are in, its body may not be."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HOLD_MAX_S + 5)
        self.open.append(conn)
        conn.request("GET", path)
        return conn.getresponse()

    def release(self):
        for backend in self.backends:
            backend.release.set()
        for conn in self.open:
            conn.close()


@contextlib.contextmanager
def haproxy_lab(extra_global: str = ""):
    require_haproxy()
    backends = [Backend(name) for name in SERVERS.values()]
    port = free_port()
    # Short: a UNIX socket path holds 107 bytes, and pytest's tmp_path can be long.
    with tempfile.TemporaryDirectory(prefix="orbiter-ha-") as lab_dir:
        try:
            haproxy = HAProxy(lab_dir, config(backends, port, extra_global), port=port)
            with started(haproxy):
                lab = Lab(haproxy, backends, port)
                try:
                    yield lab
                finally:
                    lab.release()
        finally:
            for backend in backends:
                backend.stop()


@pytest.fixture
def lab():
    with haproxy_lab() as lab:
        yield lab


@pytest.mark.integration
class TestHAProxyContract(LoadBalancerContract):
    @pytest.fixture
    def driver(self, lab):
        return lab.driver()

    @pytest.fixture
    def members(self):
        return list(SERVERS)

    @pytest.fixture
    def connections(self, lab):
        member_of = {server: member for member, server in SERVERS.items()}

        def open_(member: str, n: int) -> int:
            landed = [member_of[lab.get("/hold").getheader("X-Server")] for _ in range(n)]
            return landed.count(member)

        return open_


# --- HAProxy's own behaviour -----------------------------------------------------------------


def until(read, ok, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    value = read()
    while not ok(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


@pytest.mark.integration
def test_draining_shows_the_request_in_flight_until_it_finishes(lab):
    driver = lab.driver()
    answers = []
    request = threading.Thread(target=lambda: answers.append(lab.get("/slow").read()))
    request.start()
    busy = until(
        lambda: {m: driver.state(m).connections for m in SERVERS},
        lambda counts: sum(counts.values()) == 1,
        timeout=0.8,
    )
    [member] = [m for m, n in busy.items() if n == 1]

    drained = driver.drain_many([member])[member]

    assert drained == MemberState(admin=DRAIN, connections=1, health=UP)
    assert until(lambda: driver.state(member).connections, lambda n: n == 0) == 0
    request.join(5)
    assert answers == [b"ok"]  # draining let it finish


@pytest.mark.integration
def test_force_down_takes_a_member_out_and_enable_brings_it_back(lab):
    driver = lab.driver()
    member = "shop-api-cert-02"

    driver.force_down(member)

    assert driver.state(member) == MemberState(admin=DOWN, connections=0, health="unknown")
    driver.enable(member)
    back = until(lambda: driver.state(member), lambda s: s.health == UP)
    assert (back.admin, back.health) == (UP, UP)


@pytest.mark.integration
def test_a_server_failing_its_health_checks_is_reported_down(lab):
    driver = lab.driver()
    lab.backends[0].stop()  # s1 = shop-api-cert-01

    state = until(lambda: driver.state("shop-api-cert-01"), lambda s: s.health == DOWN)

    assert (state.admin, state.health) == (UP, DOWN)
    assert driver.state("shop-api-cert-02").health == UP


@pytest.mark.integration
def test_member_names_are_server_names_without_a_servers_option(lab):
    driver = HAProxyLoadBalancer("shop", {"socket": str(lab.haproxy.socket), "backend": BACKEND})

    driver.disable("s3")

    assert driver.state("s3").admin == DRAIN
    assert lab.driver().state("shop-api-cert-03").admin == DRAIN


@pytest.mark.integration
def test_a_pool_reaches_the_driver_by_name(lab):
    pool = Pool(
        name="shop-api-cert",
        driver="haproxy",
        options={"socket": str(lab.haproxy.socket), "backend": BACKEND, "servers": SERVERS},
    )

    driver = driver_for(pool)

    assert isinstance(driver, HAProxyLoadBalancer) and driver.quick is True
    assert driver.state("shop-api-cert-01").admin == UP


@pytest.mark.integration
def test_a_stopped_haproxy_is_a_transient_error(lab):
    driver = lab.driver()
    lab.haproxy.stop()  # the socket file stays behind: connections are refused

    with pytest.raises(DriverError) as raised:
        driver.disable("shop-api-cert-01")

    assert raised.value.permanent is False
    assert "refused" in raised.value.message and str(lab.haproxy.socket) in raised.value.message
    answer = driver.drain_many(list(SERVERS))
    assert {m: (type(e), e.permanent) for m, e in answer.items()} == {
        m: (type(raised.value), False) for m in SERVERS
    }


@pytest.mark.integration
def test_an_unknown_backend_is_a_permanent_error(lab):
    driver = lab.driver(backend="nope")

    with pytest.raises(DriverError) as raised:
        driver.state("shop-api-cert-01")
    assert raised.value.permanent is True
    assert "no backend 'nope'" in raised.value.message

    with pytest.raises(DriverError) as raised:
        driver.disable("shop-api-cert-01")
    assert raised.value.permanent is True
    assert "shop-api-cert-01" in raised.value.message

    answer = driver.restore_many(list(SERVERS))
    assert set(answer) == set(SERVERS)
    assert all(isinstance(e, DriverError) and e.permanent for e in answer.values())


@pytest.mark.integration
def test_it_talks_to_a_tcp_stats_socket():
    port = free_port()
    with haproxy_lab(f"global\n    stats socket ipv4@127.0.0.1:{port} level admin\n") as lab:
        driver = HAProxyLoadBalancer(
            "shop-api-cert",
            {"address": f"127.0.0.1:{port}", "backend": BACKEND, "servers": SERVERS},
        )

        driver.disable("shop-api-cert-01")

        assert driver.quick is False  # a TCP address may cross a network
        assert lab.driver().state("shop-api-cert-01").admin == DRAIN


# --- without HAProxy ---------------------------------------------------------------------------


def test_a_missing_socket_is_a_transient_error_naming_it(tmp_path):
    path = str(tmp_path / "haproxy.sock")
    driver = HAProxyLoadBalancer("shop", {"socket": path, "backend": BACKEND})

    with pytest.raises(DriverError) as raised:
        driver.state("s1")

    assert raised.value.permanent is False
    assert path in raised.value.message and "does not exist" in raised.value.message


def test_a_socket_that_does_not_answer_is_a_transient_error_within_the_timeout():
    with tempfile.TemporaryDirectory(prefix="orbiter-ha-") as lab_dir:
        path = str(Path(lab_dir) / "mute.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
            mute.bind(path)
            mute.listen()  # accepts (in the kernel's backlog) and never answers
            driver = HAProxyLoadBalancer(
                "shop", {"socket": path, "backend": BACKEND, "timeout_s": 0.2}
            )
            t0 = time.monotonic()

            answer = driver.drain_many(["s1", "s2", "s3"])

            took = time.monotonic() - t0
    assert took < 1.0  # one timeout for the batch, not one per member
    assert all(isinstance(e, DriverError) and not e.permanent for e in answer.values())
    assert "did not answer" in answer["s1"].message and "0.2s" in answer["s1"].message


def test_a_member_that_cannot_be_a_server_name_is_refused_before_anything_is_sent(tmp_path):
    driver = HAProxyLoadBalancer(
        "shop", {"socket": str(tmp_path / "none.sock"), "backend": BACKEND}
    )

    with pytest.raises(DriverError) as raised:
        driver.disable("s1 state ready; shutdown sessions server shop/s2")

    assert raised.value.permanent is True
    assert "not a valid HAProxy server name" in raised.value.message


GOOD = {"socket": "/run/haproxy/admin.sock", "backend": BACKEND}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"backend": BACKEND}, "socket"),
        ({**GOOD, "address": "127.0.0.1:9999"}, "socket"),
        ({"socket": "/run/haproxy/admin.sock"}, "backend"),
        ({**GOOD, "backend": "shop api"}, "backend"),
        ({**GOOD, "socket": "admin.sock"}, "socket"),
        ({"address": "127.0.0.1", "backend": BACKEND}, "address"),
        ({"address": "127.0.0.1:99999", "backend": BACKEND}, "address"),
        ({**GOOD, "timeout_s": 0}, "timeout_s"),
        ({**GOOD, "timeout_s": "2"}, "timeout_s"),
        ({**GOOD, "timeout_s": 600}, "timeout_s"),
        ({**GOOD, "servers": ["s1"]}, "servers"),
        ({**GOOD, "servers": {"web-01": "s1;s2"}}, "servers"),
        ({**GOOD, "sockte": "/run/haproxy/admin.sock"}, "sockte"),
    ],
)
def test_bad_options_are_refused_naming_the_option(options, option):
    with pytest.raises(ValidationError) as raised:
        HAProxyLoadBalancer("shop-api-cert", options)

    assert option in raised.value.message and "shop-api-cert" in raised.value.message
    assert raised.value.extra == {"field": f"options.{option}"}


def test_good_options_are_accepted_with_their_defaults():
    driver = registry.get("haproxy")("shop-api-cert", {"address": "[::1]:9999", "backend": BACKEND})

    assert (driver.endpoint, driver.timeout_s, driver.servers) == (("::1", 9999), 2.0, {})
