"""An agent's memory and log stay bounded whatever is sent to the broadcast topic, even
through a broker that lets any frame size pass; the lab's broker refuses big frames itself."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from functools import partial

import pytest
import stomp

from lab.services import ActiveMQ, started
from tests.agent_daemon.support import WAIT_FOR_GO, ControlPlane, Host, wait_until

pytestmark = pytest.mark.integration
TOPIC = "/topic/orbiter.all"
JUNK_FRAMES, JUNK_BYTES = 300, 1024 * 1024  # 300 MB in all
AHEAD_FRAMES = 16  # sent but not yet read by the agent, at most
RSS_LIMIT_KB = 60 * 1024


def memory_kb(host: Host) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak) of the agent process, in kB."""
    assert host.proc is not None
    with open(f"/proc/{host.proc.pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


def bytes_read_from_broker(host: Host, broker_port: int) -> int:
    """What the agent process has read from its broker connection(s) so far: the kernel's
    bytes_received less what still waits in the socket (Recv-Q), from `ss`."""
    assert host.proc is not None
    out = subprocess.run(
        ["ss", "-tinpH", "state", "established", "dport", "=", f":{broker_port}"],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout  # fmt: skip
    total = 0
    for socket_line, info in zip(*[iter(out.splitlines())] * 2, strict=True):
        if f"pid={host.proc.pid}," in socket_line:
            received = re.search(r"bytes_received:(\d+)", info)
            total += (int(received.group(1)) if received else 0) - int(socket_line.split()[0])
    return total


class Sender(stomp.ConnectionListener):
    """Sends to the topic on the control plane's connection (it may write there), each
    frame once the broker confirmed the one before (RECEIPT), and records ERROR frames."""

    def __init__(self, control_plane: ControlPlane) -> None:
        self.conn = control_plane.conn
        self.conn.set_listener("sender", self)
        self.receipt = threading.Event()
        self.errors: list[str] = []

    def on_receipt(self, frame) -> None:
        self.receipt.set()

    def on_error(self, frame) -> None:
        self.errors.append(frame.headers.get("message", ""))

    def send(self, body: bytes, *, confirmed: bool = True) -> None:
        self.receipt.clear()
        self.conn.send(TOPIC, body, headers={"receipt": "sent"} if confirmed else {})
        assert not confirmed or self.receipt.wait(30), f"no RECEIPT: {self.errors}"


@pytest.fixture
def unlimited_broker(broker, tmp_path):
    """A broker of this test's own without wireFormat.maxFrameSize (a misconfigured one); the
    session broker's secret, so the hosts' logins work on it."""
    with started(ActiveMQ(tmp_path / "amq", max_frame_size=None, secret=broker.secret)) as (unlimited,):
        yield unlimited


def test_300_mb_of_junk_on_the_topic_during_a_puppet_run_leaves_the_agent_small(
    make_host, unlimited_broker, record_property
):
    # the junk arrives while the agent's loop is busy, as in the finding (37 MB grew to 349 MB)
    host = make_host(manifest=WAIT_FOR_GO, brokers=[unlimited_broker.url])
    control_plane = ControlPlane(unlimited_broker.url, unlimited_broker.control_plane)
    try:
        run = control_plane.request("puppet.run", {"noop": False, "timeout_s": 600}, target=host)
        control_plane.send(host, control_plane.signed(host, run))
        wait_until(lambda: host.puppet_runs == 1, 60, "Puppet to start")
        before = memory_kb(host)
        log_before = host.log.stat().st_size

        # Sent faster than the agent reads them, 1 MB frames exhaust the lab broker's 256 MB
        # heap while it holds them (OutOfMemoryError): at most AHEAD_FRAMES are unread.
        junk, sender = b"x" * JUNK_BYTES, Sender(control_plane)
        read_before = bytes_read_from_broker(host, unlimited_broker.port)

        def agent_has_read(frames: int) -> bool:
            read = bytes_read_from_broker(host, unlimited_broker.port) - read_before
            return read >= frames * JUNK_BYTES

        started_at = time.monotonic()
        for i in range(JUNK_FRAMES):
            frames = i - AHEAD_FRAMES
            wait_until(partial(agent_has_read, frames), 60, f"the agent to read {frames} frames")
            sender.send(junk)
        ping = control_plane.request("ping", target="*")  # after the junk, in topic order
        sender.send(control_plane.signed(host, ping))
        sent_s = time.monotonic() - started_at
        (host.root / "go").touch()

        [(_, _, reply)] = control_plane.replies_to(host, run, timeout=120)
        [(_, _, pong)] = control_plane.replies_to(host, ping, timeout=120)
        after = memory_kb(host)
    finally:
        control_plane.close()

    for name, value in {**{f"before_{k}": v for k, v in before.items()},
                        **{f"after_{k}": v for k, v in after.items()},
                        "junk_sent_s": round(sent_s, 1)}.items():  # fmt: skip
        record_property(name, value)
    print(f"agent memory before {before} after {after} (kB); {JUNK_FRAMES} MB sent in {sent_s:.1f}s")
    assert reply.result["ok"] is True and pong.result["pong"] == host.certname
    assert after["VmRSS"] <= RSS_LIMIT_KB and after["VmHWM"] <= RSS_LIMIT_KB
    dropped = host.events("dropped")
    assert 1 <= len(dropped) <= 10 and {e["reason"] for e in dropped} == {"too_large"}
    assert host.log.stat().st_size - log_before < 10_000  # not 300 lines of refusals
    assert host.puppet_runs == 1


def test_the_lab_broker_refuses_a_frame_bigger_than_its_limit_before_any_agent_sees_it(
    host, broker, control_plane
):
    sending = ControlPlane(broker.url, broker.control_plane)  # a connection of its own: the broker closes it
    sender = Sender(sending)

    sender.send(b"x" * (ActiveMQ.MAX_FRAME_SIZE + 1), confirmed=False)

    wait_until(lambda: not sender.conn.is_connected(), 30, "the broker to close the connection")
    # ActiveMQ may go on to parse the rest of the frame as another and refuse that too
    assert sender.errors[0] == "The maximum frame size was exceeded", sender.errors
    ping = control_plane.request("ping", target=host)  # the agent is fine and saw nothing
    control_plane.send(host, control_plane.signed(host, ping))
    control_plane.replies_to(host, ping)
    assert host.events("dropped") == []
