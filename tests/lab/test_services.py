"""lab/services.py's ActiveMQ and HAProxy: real processes on loopback, started and stopped here.

Skipped with the reason when the binary (or stomp.py) is missing; with ORBITER_REQUIRE_SERVICES=1
that is a failure instead.  Install with:
    .venv/bin/python lab/services.py ensure-installed --services activemq,haproxy
"""

import os
import queue
import socket
import time

import pytest

from lab.services import (
    SERVICES,
    ActiveMQ,
    HAProxy,
    free_port,
    haproxy_command,
    running,
    started,
)

pytestmark = pytest.mark.integration


ENSURE = ".venv/bin/python lab/services.py ensure-installed --services activemq,haproxy"


def _require(what: str, ok: bool, fix: str = ENSURE) -> None:
    if ok:
        return
    if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required (ORBITER_REQUIRE_SERVICES=1) but missing; install: {fix}")
    pytest.skip(f"{what} not installed; install: {fix}")


def _stomp():
    try:
        import stomp
    except ImportError:
        stomp = None
    _require("stomp.py", stomp is not None, ".venv/bin/pip install 'stomp.py>=8,<9'")
    return stomp


class Inbox:
    """stomp.py listener: frames into queues, so the test waits with a bound."""

    def __init__(self):
        self.messages, self.receipts, self.errors = queue.Queue(), queue.Queue(), queue.Queue()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers["receipt-id"])

    def on_error(self, frame):
        self.errors.put(frame)


def _connect(stomp, mq):
    conn = stomp.Connection12([("127.0.0.1", mq.port)], heartbeats=(0, 0), reconnect_attempts_max=1)
    inbox = Inbox()
    conn.set_listener("inbox", inbox)
    conn.connect(*mq.control_plane, wait=True)
    return conn, inbox


def test_activemq_persistent_message_survives_a_restart(tmp_path):
    _require("ActiveMQ (java + /usr/share/activemq)", ActiveMQ.installed())
    stomp = _stomp()
    t0 = time.monotonic()
    with started(ActiveMQ(tmp_path)) as (mq,):
        started_s = time.monotonic() - t0
        assert mq.url == f"stomp://127.0.0.1:{mq.port}"
        assert mq.env_var == "ORBITER_STOMP_URL"
        conn, inbox = _connect(stomp, mq)
        conn.send("/queue/orbiter.lab.test", "survives", headers={"persistent": "true",
                                                                  "receipt": "sent-1"})
        assert inbox.receipts.get(timeout=10) == "sent-1"  # the broker has stored it
        conn.disconnect()

        data = mq.dir / "data" / "kahadb"
        assert data.is_dir() and any(data.iterdir())
        t1 = time.monotonic()
        mq.restart()
        restarted_s = time.monotonic() - t1

        conn, inbox = _connect(stomp, mq)  # same port after the restart
        try:
            conn.subscribe("/queue/orbiter.lab.test", id="1", ack="client-individual")
            frame = inbox.messages.get(timeout=15)
            assert frame.body == "survives"
            assert frame.headers.get("persistent") == "true"
            conn.ack(frame.headers["ack"])
            assert inbox.errors.empty()
        finally:
            conn.disconnect()
        proc = mq.proc
        t2 = time.monotonic()
    stopped_s = time.monotonic() - t2
    assert proc.poll() is not None
    mq.stop()  # idempotent
    print(f"activemq: start {started_s:.2f}s, restart {restarted_s:.2f}s, stop {stopped_s:.2f}s")
    assert stopped_s < 16


def test_activemq_stop_is_safe_without_start(tmp_path):
    ActiveMQ(tmp_path).stop()


def test_haproxy_runtime_api_answers_show_info(tmp_path):
    _require("haproxy", HAProxy.installed())
    t0 = time.monotonic()
    with started(HAProxy(tmp_path)) as (ha,):
        started_s = time.monotonic() - t0
        assert ha.url == str(ha.socket) == str(tmp_path / "haproxy" / "admin.sock")
        info = haproxy_command(ha.socket, "show info")
        assert "Name: HAProxy" in info
        assert f"Pid: {ha.proc.pid}" in info
        assert haproxy_command(ha.socket, "show stat").startswith("# pxname")
        assert "frontend" not in ha.config.read_text()  # none unless the caller adds one
        proc, t1 = ha.proc, time.monotonic()
    stopped_s = time.monotonic() - t1
    assert proc.poll() is not None
    print(f"haproxy: start {started_s:.3f}s, stop {stopped_s:.3f}s")


def test_haproxy_config_body_is_appended(tmp_path):
    _require("haproxy", HAProxy.installed())
    port = free_port()
    body = (f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n"
            "backend be\n    server s1 127.0.0.1:9 disabled\n")
    with started(HAProxy(tmp_path, body, port=port)) as (ha,):
        assert ha.port == port
        stat = haproxy_command(ha.socket, "show stat")
        assert "\nfe,FRONTEND," in stat and "\nbe,s1," in stat
        assert "be 1 s1 " in haproxy_command(ha.socket, "show servers state be")


def test_haproxy_bad_config_fails_fast_with_the_log_and_stops_cleanly(tmp_path):
    _require("haproxy", HAProxy.installed())
    ha = HAProxy(tmp_path, "frontend fe\n    no-such-keyword here\n", timeout=5)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="haproxy exited with code") as e:
        ha.start()
    assert time.monotonic() - t0 < 5
    assert "no-such-keyword" in str(e.value)  # the log tail is in the error
    ha.stop()
    ha.stop()


def test_running_accepts_the_new_registry_names(tmp_path):
    _require("haproxy", HAProxy.installed())
    assert {"activemq", "haproxy"} <= set(SERVICES)
    with running("haproxy", lab_dir=tmp_path) as env:
        sock = env["ORBITER_HAPROXY_SOCKET"]
        assert "Name: HAProxy" in haproxy_command(sock, "show info")
    with pytest.raises(OSError):
        haproxy_command(sock, "show info", timeout=1)


def test_activemq_failed_start_reports_the_log_and_stops_cleanly(tmp_path):
    _require("ActiveMQ (java + /usr/share/activemq)", ActiveMQ.installed())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        mq = ActiveMQ(tmp_path / "busy", port=busy.getsockname()[1], timeout=30)
        with pytest.raises(RuntimeError, match="java exited with code") as e:
            mq.start()
    assert "Address already in use" in str(e.value)  # log tail, without the Java stack frames
    assert "\tat " not in str(e.value)
    mq.stop()

    mq = ActiveMQ(tmp_path / "slow", timeout=0.3)  # the JVM alone takes longer than that
    with pytest.raises(RuntimeError, match=r"no STOMP CONNECTED in 0.3s"):
        mq.start()
    assert mq.proc.poll() is None  # still starting: stop() must take it down
    mq.stop()
    assert mq.proc.poll() is not None
