"""The agent fails over to the next broker, and comes back after its broker restarts."""

import pytest

from lab.services import ActiveMQ, free_port, started
from tests.agent_daemon.support import ControlPlane

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
