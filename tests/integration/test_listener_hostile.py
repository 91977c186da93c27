"""The hostile-reply suite on the real stack: ActiveMQ, `orbiter listen` as a process of its
own on PostgreSQL, agents' keys enrolled for real. For each attack: the refusal (its code
on the dead-letter queue when it came under an enrolled host's name), nothing recorded,
the listener still running, and the genuine report sent right behind it recorded.
Revocation and rotation on the same running listener."""

import json
import threading
import time

import pytest
import stomp

from lab.processes import Process
from orbiter.bus.base import DEAD_LETTER, REPLIES, reset_bus
from orbiter.catalog.agents import agent_enroll, agent_key_revoke, enrollment_token_create
from orbiter.catalog.models import Host
from orbiter.deployments import states
from orbiter_agent import protocol
from orbiter_agent.keys import generate_keypair, load_private_key, write_private_key
from tests.bus.hostile import CASES, Sender
from tests.bus.support import enrolled_fleet
from tests.deployments.support import host, host_deployment, request
from tests.integration.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
DONE = {"ok": True, "kind": "changed", "changed": True}


class Wire(stomp.ConnectionListener):
    """Raw STOMP connections: what an attacker on the replies queue sends (logged in to the
    broker as an enrolled host, the most an attacker on the replies queue can have), and
    what the dead-letter queue receives (read as the control plane: hosts may not)."""

    def __init__(self, broker, attacker: str):
        port = int(broker.url.rsplit(":", 1)[1])
        self.conn = stomp.Connection12([("127.0.0.1", port)], auto_decode=False)
        self.conn.set_listener("wire", self)
        self.conn.connect(*broker.control_plane, wait=True)
        self.dead: list[dict] = []
        self.lock = threading.Lock()
        self.conn.subscribe(DEAD_LETTER, id="dead", ack="auto")
        self.out = stomp.Connection12([("127.0.0.1", port)], auto_decode=False)
        self.out.connect(*broker.credentials(attacker), wait=True)

    def on_message(self, frame):
        with self.lock:
            self.dead.append(dict(frame.headers))

    def send(self, body: bytes) -> None:
        self.out.send(REPLIES, body, headers={"persistent": "true"})

    def dead_letters(self) -> list[dict]:
        with self.lock:
            return list(self.dead)

    def close(self):
        self.out.disconnect()
        self.conn.disconnect()


@pytest.fixture
def stack(live_env, settings, tmp_path, broker, tasks):
    """Two enrolled hosts, a rollout waiting for host 1's puppet.run, `orbiter listen`."""
    settings.ORBITER_STOMP_USER, settings.ORBITER_STOMP_PASSWORD = broker.control_plane
    fleet = enrolled_fleet(settings, tmp_path, broker.url, hosts=2)
    deployment = request("1.0.0-1", strategy={"batch_size": "1"})
    tasks.run_until(lambda: deployment.hosts.filter(host__certname=host(1), status=states.CONVERGING).exists(),
                    timeout=20)
    env = {**live_env, **broker.env(), "ORBITER_BUS_URL": broker.url, "ORBITER_SIGNING_KEY_FILE": settings.ORBITER_SIGNING_KEY_FILE}
    listener = Process(["listen"], env, tmp_path / "listener.log")
    wire = Wire(broker, attacker=host(1))
    try:
        listener.wait_for_log("listening for agent replies")
        yield fleet, deployment, listener, wire
    finally:
        listener.stop()
        wire.close()
        reset_bus()


def report(fleet, certname, version: str) -> bytes:
    envelope = protocol.make_report({"ok": True, "packages": {"shop-api": version}}, sender=certname, now=time.time())
    return protocol.encode(protocol.sign(envelope, fleet.keys[certname]))


def reply(fleet, certname, request_id, *, key=None) -> bytes:
    request = protocol.make_request("puppet.run", {"noop": False}, target=certname, sender="control-plane",
                                    ttl_s=600, now=time.time(), id=request_id)
    envelope = protocol.make_reply(request, DONE, sender=certname, now=time.time())
    return protocol.encode(protocol.sign(envelope, key or fleet.keys[certname]))


def facts_version(certname) -> str | None:
    return (Host.objects.get(certname=certname).facts.get("packages") or {}).get("shop-api")


def test_every_hostile_reply_is_refused_and_the_listener_records_what_follows(stack):
    fleet, deployment, listener, wire = stack
    request_id = host_deployment(deployment, host(1)).request_id
    attacker = Sender(host(1), fleet.keys[host(1)], request_id)
    kept = 0

    for n, case in enumerate(CASES):
        wire.send(case.build(attacker))
        wire.send(report(fleet, host(2), f"{n}.0"))  # a genuine message right behind it
        wait_for(lambda n=n: facts_version(host(2)) == f"{n}.0", 20, f"the report after {case.name!r}\n"
                 + listener.tail())
        assert listener.popen.poll() is None, f"{case.name}: the listener died\n{listener.tail()}"
        hd = host_deployment(deployment, host(1))
        assert (hd.status, hd.outcome, facts_version(host(1))) == (states.CONVERGING, None, None), case.name
        if case.dead_letter:
            kept += 1
            dead = wait_for(lambda k=kept: len(wire.dead_letters()) >= k and wire.dead_letters(), 10,
                            f"{case.name!r} on the dead-letter queue")
            assert dead[-1]["orbiter-refused"] == case.code, case.name
        assert len(wire.dead_letters()) == kept, case.name

    wire.send(reply(fleet, host(1), request_id))
    wait_for(lambda: host_deployment(deployment, host(1)).outcome, 20, "the genuine reply to be recorded")
    assert host_deployment(deployment, host(1)).outcome["ok"] is True
    assert listener.popen.poll() is None


def test_a_running_listener_refuses_a_revoked_key_at_once(stack):
    fleet, deployment, listener, wire = stack
    request_id = host_deployment(deployment, host(1)).request_id
    wire.send(report(fleet, host(1), "1.0"))  # the listener has used host 1's key already
    wait_for(lambda: facts_version(host(1)) == "1.0", 20, "host 1's report")

    agent_key_revoke(certname=host(1), actor="admin")
    wire.send(reply(fleet, host(1), request_id))

    (dead,) = wait_for(lambda: wire.dead_letters(), 20, "the refused reply on the dead-letter queue")
    assert (dead["orbiter-refused"], dead["orbiter-sender"]) == ("unknown_sender", host(1))
    hd = host_deployment(deployment, host(1))
    assert (hd.status, hd.outcome) == (states.CONVERGING, None)


def test_a_running_listener_trusts_a_rotated_key_at_once_and_refuses_the_old_one(stack, tmp_path):
    fleet, deployment, listener, wire = stack
    request_id = host_deployment(deployment, host(1)).request_id
    wire.send(report(fleet, host(1), "1.0"))
    wait_for(lambda: facts_version(host(1)) == "1.0", 20, "host 1's report")

    pem, public = generate_keypair()  # the documented rotation: new pair, new token, enroll
    write_private_key(tmp_path / "rotated.key", pem)
    agent_enroll(certname=host(1), public_key=public, token=enrollment_token_create(certname=host(1), actor="admin"))
    wire.send(reply(fleet, host(1), request_id))  # signed with the old key

    (dead,) = wait_for(lambda: wire.dead_letters(), 20, "the old key's reply on the dead-letter queue")
    assert dead["orbiter-refused"] == "bad_signature"
    assert host_deployment(deployment, host(1)).outcome is None

    wire.send(reply(fleet, host(1), request_id, key=load_private_key(tmp_path / "rotated.key")))
    wait_for(lambda: host_deployment(deployment, host(1)).outcome, 20, "the new key's reply to be recorded")
    assert host_deployment(deployment, host(1)).outcome["ok"] is True


def test_the_dead_letter_copy_keeps_the_body_an_operator_can_replay(stack):
    fleet, deployment, listener, wire = stack
    body = Sender(host(1), fleet.keys[host(1)], "x").run(logs=7)
    received = []
    wire.conn.set_listener("bodies", type("L", (stomp.ConnectionListener,), {
        "on_message": lambda self, frame: received.append(frame.body)})())

    wire.send(body)

    wait_for(lambda: received, 20, "the dead-lettered body")
    assert json.loads(received[0]) == json.loads(body)
