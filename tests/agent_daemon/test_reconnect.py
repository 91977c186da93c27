"""The agent fails over to the next broker, and comes back after its broker restarts."""

import time

import pytest

from lab.services import ActiveMQ, free_port, started
from tests.agent_daemon.support import WAIT_FOR_GO, ControlPlane, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(broker, tmp_path):
    """A broker of this test's own, free to restart; its secret is the session broker's, as
    brokers behind one failover list share theirs, so every host's password works on both."""
    with started(ActiveMQ(tmp_path / "amq", secret=broker.secret)) as (own,):
        yield own


def ping(broker, host):
    control_plane = ControlPlane(broker.url, broker.control_plane)
    try:
        request = control_plane.request("ping", target=host)
        control_plane.send(host, control_plane.signed(host, request))
        [(_, _, reply)] = control_plane.replies_to(host, request, timeout=40)
        return reply.result
    finally:
        control_plane.close()


def test_it_skips_a_dead_broker_and_reconnects_after_a_restart(make_host, own_broker):
    dead = f"stomp://127.0.0.1:{free_port()}"
    host = make_host(brokers=[dead, own_broker.url])
    assert ping(own_broker, host)["pong"] == host.certname

    own_broker.restart()  # same port and kahaDB

    assert ping(own_broker, host)["pong"] == host.certname
    assert host.count("disconnected") == 1 and host.count("connected") == 2
    assert [e["reason"] for e in host.events("report")] == ["connected", "connected"]
    assert host.non_json_lines() == []  # stomp.py's own warnings included


def test_after_a_broker_outage_each_agent_is_back_as_its_own_jittered_backoff_says(
    make_host, own_broker
):
    """Each agent retries at 1, 2, 4, 8… s (each wait drawn from the upper half of its
    step, up to 30 s) and connects at the first attempt after the broker is back: not the
    30 s idle wait every agent once made after a failed attempt, all at the same instant."""
    hosts = [make_host(brokers=[own_broker.url]) for _ in range(3)]

    own_broker.stop()
    stopped = time.time()
    wait_until(lambda: all(h.count("connect_failed") >= 3 for h in hosts), 60,
               "three failed connection attempts per agent")  # fmt: skip
    own_broker.start()  # same port and kahaDB
    ready = time.time()

    def back(host):
        return [e for e in host.events("connected") if e["ts"] > stopped]

    wait_until(lambda: all(back(h) for h in hosts), 90, "every agent back")
    schedules = []
    for host in hosts:
        back_at = back(host)[0]["ts"]
        lost_at = max(e["ts"] for e in host.events("disconnected") if e["ts"] < back_at)
        failures = [e for e in host.events("connect_failed") if lost_at <= e["ts"] < back_at]
        delays = [e["retry_in_s"] for e in failures]
        for i, delay in enumerate(delays):
            step = min(2.0**i, 30.0)
            assert 0.5 * step <= delay <= step, (i, delays)
        assert back_at - failures[-1]["ts"] <= delays[-1] + 3.0, (failures[-1], back_at)
        schedules.append(tuple(delays))
    returns = sorted(round(back(h)[0]["ts"] - ready, 2) for h in hosts)
    print(f"outage {ready - stopped:.1f}s; agents back {returns} s after the broker was ready")
    assert len(set(schedules)) == len(hosts)  # jittered: no two agents retry in step
    assert all(ping(own_broker, host)["pong"] == host.certname for host in hosts)


def test_a_run_that_ends_during_a_broker_outage_is_answered_as_soon_as_its_agent_is_back(
    make_host, own_broker
):
    """The reply cannot be sent while the broker is down; the request, never ACKed, comes
    back on the new connection and is answered from the replay store: Puppet runs once and
    the host waits only for its agent's backoff, not for an idle timeout."""
    host = make_host(manifest=WAIT_FOR_GO, brokers=[own_broker.url])
    control_plane = ControlPlane(own_broker.url, own_broker.control_plane)
    request = control_plane.request("puppet.run", {"noop": False, "timeout_s": 600}, target=host)
    control_plane.send(host, control_plane.signed(host, request))
    wait_until(lambda: host.puppet_runs == 1, 60, "Puppet to start")

    own_broker.stop()
    (host.root / "go").touch()  # the run ends while the broker is down
    wait_until(lambda: host.count("send_failed") and host.count("connect_failed") >= 2, 60,
               "the reply to fail and two connection attempts")  # fmt: skip
    own_broker.start()
    ready = time.time()
    control_plane = ControlPlane(own_broker.url, own_broker.control_plane)
    try:
        [(_, _, reply)] = control_plane.replies_to(host, request, timeout=60)
        answered = time.time()
    finally:
        control_plane.close()

    last_delay = host.events("connect_failed")[-1]["retry_in_s"]
    print(f"answered {answered - ready:.1f}s after the broker was ready (last delay {last_delay}s)")
    assert answered - ready <= last_delay + 5.0, (answered - ready, last_delay)
    assert reply.result["ok"] is True and reply.result["kind"] == "changed"
    assert host.count("replay_answered") == 1 and host.puppet_runs == 1
