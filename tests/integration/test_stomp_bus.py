"""The control plane's side of the agent protocol on a real ActiveMQ: signed requests go
out persistent on each host's queue, replies come back through competing listeners and
are acknowledged only once recorded."""

import time

import pytest
import stomp

from orbiter.bus.base import REPLIES, agent_queue, reset_bus
from orbiter.bus.listener import ReplyListener
from orbiter.bus.stomp import StompBus
from orbiter.converge.keys import signing_public_key
from orbiter.deployments import states
from orbiter_agent import protocol
from orbiter_agent.keys import KeyRing, parse_public_key
from tests.bus.support import enrolled_fleet
from tests.deployments.support import host, host_deployment, request, status

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fleet(settings, tmp_path, broker):
    settings.ORBITER_STOMP_USER, settings.ORBITER_STOMP_PASSWORD = broker.control_plane
    yield enrolled_fleet(settings, tmp_path, broker.url, hosts=2)
    reset_bus()


class FakeAgent:
    """Plays the node agents on the broker, each on its own connection with its own broker
    login: verifies each request, answers it signed."""

    def __init__(self, broker, agents, certnames):
        self.agents, self.certnames = agents, certnames
        self.control_plane = KeyRing({protocol.CONTROL_PLANE: parse_public_key(signing_public_key().encode())})
        self.seen = []
        self.conns = [self._connect(broker, certname) for certname in certnames]

    def _connect(self, broker, certname):
        conn = stomp.Connection12([("127.0.0.1", broker.port)], auto_decode=False)
        outer = self

        class Listener(stomp.ConnectionListener):
            def on_message(self, frame):
                request = protocol.decode_and_verify(frame.body, keys=outer.control_plane, now=time.time())
                outer.seen.append((certname, request))
                reply = protocol.make_reply(request, {"ok": True, "kind": "changed", "exit_code": 2},
                                            sender=certname, now=time.time())
                conn.send(REPLIES, protocol.encode(protocol.sign(reply, outer.agents.keys[certname])),
                          headers={"persistent": "true"})
                conn.ack(frame.headers["ack"])

        conn.set_listener("agent", Listener())
        conn.connect(*broker.credentials(certname), wait=True)
        conn.subscribe(agent_queue(certname), id=certname, ack="client-individual")
        return conn

    def stop(self):
        for conn in self.conns:
            conn.disconnect()


def pump(tasks, bus, condition, timeout=20):
    tasks.run_until(lambda: (bus.step(timeout=0.05), condition())[1], timeout=timeout)


def test_a_rollout_converges_through_the_broker(tasks, fleet, broker):
    agent = FakeAgent(broker, fleet, [host(1), host(2)])
    listener = ReplyListener(StompBus.from_url(broker.url))
    listener.start()
    try:
        deployment = request("1.0.0-1", strategy={"batch_size": "1"})
        pump(tasks, listener.bus, lambda: status(deployment) in states.COMPLETED)
    finally:
        agent.stop()
        listener.bus.close()

    assert status(deployment) == states.SUCCEEDED
    assert sorted(c for c, _ in agent.seen) == [host(1), host(2)]
    assert [r.id for _, r in agent.seen] == [host_deployment(deployment, c).request_id for c, _ in agent.seen]


def test_a_reply_a_listener_took_but_never_acknowledged_goes_to_another_listener(tasks, fleet, broker):
    deployment = request("1.0.0-1", strategy={"batch_size": "2"})
    tasks.run_until(lambda: deployment.hosts.filter(status=states.CONVERGING).count() == 2)
    agent = FakeAgent(broker, fleet, [host(1), host(2)])
    time.sleep(1)  # let the fake agents answer both requests

    # A listener receives the replies, then dies before recording and acknowledging them.
    dying = StompBus.from_url(broker.url)
    received = []
    dying.subscribe(REPLIES, received.extend, batch=True)  # as the real listener does
    deadline = time.monotonic() + 10
    while len(received) < 2 and time.monotonic() < deadline:
        dying.step(timeout=0.1)
    dying.close()
    assert len(received) == 2 and host_deployment(deployment, host(1)).outcome is None

    survivor = ReplyListener(StompBus.from_url(broker.url))
    survivor.start()
    try:
        pump(tasks, survivor.bus, lambda: status(deployment) in states.COMPLETED)
    finally:
        agent.stop()
        survivor.bus.close()
    assert status(deployment) == states.SUCCEEDED
    assert survivor.recorded == 2


