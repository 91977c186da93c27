"""A request runs Puppet at most once: a duplicate gets the stored reply, and a request
redelivered after the agent died mid-run gets an "interrupted" reply instead of a rerun."""

import signal

import pytest

from tests.agent_daemon.support import wait_until

pytestmark = pytest.mark.integration
RUN = {"noop": False, "timeout_s": 120}
INTERRUPTED = "interrupted: the agent restarted during this request"
SLOW = "class {{ 'testapp::slow': seconds => 30 }}"


def test_the_same_request_delivered_twice_runs_puppet_once(host, control_plane):
    request = control_plane.request("puppet.run", RUN, target=host)
    body = control_plane.signed(host, request)
    control_plane.send(host, body)
    control_plane.send(host, body)

    (_, first_body, first), (_, second_body, _) = control_plane.replies_to(
        host, request, count=2, timeout=90
    )

    assert first.result["ok"] is True and first.result["kind"] == "changed"
    assert second_body == first_body  # the stored reply, sent again byte for byte
    assert host.puppet_runs == 1
    assert host.count("replay_answered") == 1


def test_a_request_interrupted_by_a_crash_is_answered_not_rerun(make_host, control_plane):
    host = make_host(manifest=SLOW, lock_timeout_s=1)
    request = control_plane.request("puppet.run", RUN, target=host)
    control_plane.send(host, control_plane.signed(host, request))
    wait_until(lambda: host.puppet_runs == 1, 30, "Puppet to start")

    host.signal(signal.SIGKILL)  # received, remembered, running: no reply, no ACK
    host.proc.wait()
    host.start()  # the broker redelivers the unacknowledged request

    [(_, _, reply)] = control_plane.replies_to(host, request, timeout=30)
    assert reply.result == {"ok": False, "transient": True, "error": INTERRUPTED}
    assert host.puppet_runs == 1

    # while the orphaned run still goes on
    retry = control_plane.request("puppet.run", RUN, target=host)
    control_plane.send(host, control_plane.signed(host, retry))
    [(_, _, reply)] = control_plane.replies_to(host, retry, timeout=30)
    assert reply.result["transient"] is True and reply.result["kind"] == "lock_held"
    assert "earlier agent" in reply.result["message"]
    assert host.puppet_runs == 1
