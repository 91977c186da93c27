"""SIGTERM lets the run in progress finish and its reply (with the facts after the run) go
out, then the agent exits 0."""

import signal
import time
from pathlib import Path

import pytest

from tests.agent_daemon.support import wait_until

pytestmark = pytest.mark.integration


def test_sigterm_during_a_run_finishes_it_and_replies(make_host, control_plane):
    host = make_host(manifest="class {{ 'testapp::slow': seconds => 2 }}")
    request = control_plane.request("puppet.run", {"noop": False, "timeout_s": 120}, target=host)
    control_plane.send(host, control_plane.signed(host, request))
    wait_until(lambda: host.puppet_runs == 1, 30, "Puppet to start")

    host.signal(signal.SIGTERM)

    assert host.proc.wait(timeout=90) == 0
    [(_, _, reply)] = control_plane.replies_to(host, request, timeout=5)
    assert reply.result["ok"] is True and reply.result["kind"] == "changed"
    # what the run changed still goes out, in the reply, before the agent stops
    assert reply.result["facts"]["last_run"]["resources"]["changed"] == 1
    assert [e["event"] for e in host.events()][-4:] == ["puppet_run", "reply", "stopping", "stopped"]


def test_sigterm_while_idle_exits_at_once(host):
    time.sleep(0.5)  # idle: waiting for a message, with nothing to wake it up

    started = time.monotonic()
    host.signal(signal.SIGTERM)

    assert host.proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 3  # not at the idle wait's 30 s safety timeout
    assert [e["event"] for e in host.events()][-2:] == ["stopping", "stopped"]


def test_an_idle_agent_sleeps(host):
    """Waiting for requests costs no wake-ups of its own (it polled twice a second before:
    1,000 agents on one machine spent ~0.2 CPU-seconds per second on it)."""
    time.sleep(1)
    before = _wakeups(host.proc.pid)
    time.sleep(6)

    # Heart-beats every 2 s here, sent and received: ~6 wake-ups; polling added 12 more.
    assert _wakeups(host.proc.pid) - before <= 10


def _wakeups(pid: int) -> int:
    """Voluntary context switches of all the process's threads: each is a sleep that ended."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        total += int(status.split("voluntary_ctxt_switches:")[1].split()[0])
    return total
