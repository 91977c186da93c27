"""SIGTERM lets the run in progress finish and its reply (with the facts after the run) go
out, then the agent exits 0."""

import signal

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
