"""The broker enforces least privilege (lab/activemq's plugin, as in production): an agent
logs in as its certname and may read only its own queue and the broadcast topic and write
only the replies queue; only the control plane writes to agents and reads their replies;
anonymous and wrong logins are refused. Every refusal is checked on a real ActiveMQ, and
that nothing got through: the victim's next message is the control plane's own marker."""

import os
import queue
import secrets
import subprocess
import sys
import uuid

import pytest
import stomp
from django.core.management import call_command

from lab.services import ActiveMQ, started
from orbiter.audit.models import Event
from orbiter.bus.credentials import broker_password, read_secret
from tests.conftest import build_fleet
from tests.deployments.support import host

pytestmark = pytest.mark.integration

ME, OTHER = "web01.example.test", "web02.example.test"
TOPIC, REPLIES = "/topic/orbiter.all", "/queue/orbiter.replies"
WAIT_S = 15  # a deadline, not a delay: every wait ends as soon as the frame arrives


def queue_of(certname):
    return f"/queue/orbiter.agent.{certname}"


class Client(stomp.ConnectionListener):
    """One STOMP connection; every frame it gets lands in a queue the test waits on."""

    def __init__(self, broker, user, password):
        self.frames: queue.Queue = queue.Queue()
        self.conn = stomp.Connection12([("127.0.0.1", broker.port)], heartbeats=(0, 0), reconnect_attempts_max=1)
        self.conn.set_listener("client", self)
        self.conn.connect(user, password, wait=True)

    def on_message(self, frame):
        self.frames.put(("MESSAGE", frame))

    def on_receipt(self, frame):
        self.frames.put(("RECEIPT", frame))

    def on_error(self, frame):
        self.frames.put(("ERROR", frame))

    def next(self, what):
        try:
            return self.frames.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"nothing within {WAIT_S}s while waiting for {what}") from None

    def _answer(self, receipt):
        kind, frame = self.next(f"the answer to {receipt}")
        assert kind in ("RECEIPT", "ERROR"), (kind, frame.body)
        assert kind == "ERROR" or frame.headers["receipt-id"] == receipt
        return "refused" if kind == "ERROR" else "allowed", frame

    def subscribe(self, destination):
        """'allowed' or 'refused' (with the broker's message), as the broker answered."""
        receipt = f"sub-{uuid.uuid4().hex}"
        self.conn.subscribe(destination, id=receipt, ack="auto", headers={"receipt": receipt})
        return self._answer(receipt)

    def send(self, destination, body):
        receipt = f"send-{uuid.uuid4().hex}"
        self.conn.send(destination, body, headers={"persistent": "true", "receipt": receipt})
        return self._answer(receipt)

    def received(self):
        kind, frame = self.next("a message")
        assert kind == "MESSAGE", (kind, frame.body)
        return frame.body

    def close(self):
        if self.conn.is_connected():
            self.conn.disconnect()


@pytest.fixture
def connect(broker):
    clients = []

    def make(user, password=None):
        client = Client(broker, *(broker.credentials(user) if password is None else (user, password)))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def control_plane(connect, broker):
    return connect(*broker.control_plane)


def test_a_host_reads_its_own_queue_and_the_topic_and_writes_the_replies(connect, control_plane):
    me = connect(ME)
    assert me.subscribe(queue_of(ME))[0] == "allowed"
    assert me.subscribe(TOPIC)[0] == "allowed"
    assert control_plane.subscribe(REPLIES)[0] == "allowed"

    assert control_plane.send(queue_of(ME), "for you")[0] == "allowed"
    assert me.received() == "for you"
    assert control_plane.send(TOPIC, "for everyone")[0] == "allowed"
    assert me.received() == "for everyone"
    assert me.send(REPLIES, "done")[0] == "allowed"
    assert control_plane.received() == "done"


def test_a_host_is_refused_another_hosts_queue_and_gets_none_of_its_messages(connect, control_plane):
    intruder, victim = connect(ME), connect(OTHER)

    answer, frame = intruder.subscribe(queue_of(OTHER))

    assert answer == "refused"
    assert f"not authorized to read from: queue://orbiter.agent.{OTHER}" in frame.body
    assert control_plane.send(queue_of(OTHER), "secret request")[0] == "allowed"
    assert victim.subscribe(queue_of(OTHER))[0] == "allowed"
    assert victim.received() == "secret request"  # the intruder's subscription took nothing


@pytest.mark.parametrize("destination", [
    "/queue/orbiter.agent.>", "/queue/orbiter.agent.*.example.test", f"/queue/orbiter.agent.{OTHER},orbiter.agent.{ME}",
    REPLIES, "/queue/ActiveMQ.DLQ", f"/topic/ActiveMQ.Advisory.Consumer.Queue.orbiter.agent.{OTHER}",
])  # fmt: skip
def test_a_host_is_refused_wildcards_the_replies_and_everything_else(connect, destination):
    assert connect(ME).subscribe(destination)[0] == "refused"


@pytest.mark.parametrize("destination", [TOPIC, queue_of(OTHER), queue_of(ME)])
def test_a_host_is_refused_writing_where_only_the_control_plane_writes(connect, control_plane, destination):
    writer, reader = connect(ME), connect(OTHER if destination == queue_of(OTHER) else ME)
    assert reader.subscribe(destination)[0] == "allowed"

    answer, frame = writer.send(destination, "junk")

    assert answer == "refused" and "not authorized to write to" in frame.body
    assert control_plane.send(destination, "marker")[0] == "allowed"
    assert reader.received() == "marker"  # the junk never reached anyone


@pytest.mark.parametrize("login", ["none", "wrong password", "another host's password", "the control plane's name",
                                   "a wildcard user"])  # fmt: skip
def test_a_connection_without_the_right_credentials_is_refused(connect, broker, login):
    user, password = {
        "none": (None, None),
        "wrong password": (ME, "not-the-password"),
        "another host's password": (ME, broker.credentials(OTHER)[1]),
        "the control plane's name": (broker.CONTROL_PLANE_USER, broker.credentials(ME)[1]),
        "a wildcard user": (">", broker.credentials(">")[1]),
    }[login]

    with pytest.raises(stomp.exception.ConnectFailedException):
        connect(user or "", password or "")


def test_the_control_plane_writes_to_agents_and_the_topic_and_reads_the_replies(connect, control_plane):
    me, other = connect(ME), connect(OTHER)
    for client, certname in ((me, ME), (other, OTHER)):
        assert client.subscribe(queue_of(certname))[0] == "allowed"
    assert other.subscribe(TOPIC)[0] == "allowed"
    assert control_plane.subscribe(REPLIES)[0] == "allowed"

    for client, certname in ((me, ME), (other, OTHER)):
        assert control_plane.send(queue_of(certname), f"run {certname}")[0] == "allowed"
        assert client.received() == f"run {certname}"
    assert control_plane.send(TOPIC, "ping all")[0] == "allowed"
    assert other.received() == "ping all"
    assert other.send(REPLIES, "pong")[0] == "allowed"
    assert control_plane.received() == "pong"


@pytest.mark.django_db
def test_the_password_orbiter_agents_broker_password_prints_is_the_one_the_broker_accepts(
        connect, broker, settings, capsys):  # fmt: skip
    build_fleet(hosts=1)
    settings.ORBITER_STOMP_SECRET_FILE = str(broker.secret_file)

    call_command("agents", "broker-password", host(1), "--as", "alice")
    password = capsys.readouterr().out.strip()

    assert connect(host(1), password).subscribe(queue_of(host(1)))[0] == "allowed"
    assert Event.objects.filter(verb="agent.broker_password", actor="alice").count() == 1


def test_the_control_plane_logs_in_with_only_the_secret_file_configured(connect, broker):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITER_STOMP_")}
    env.update(ORBITER_MODE="test", ORBITER_STOMP_SECRET_FILE=str(broker.secret_file),
               DJANGO_SETTINGS_MODULE="orbiter.settings")
    shown = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; "
                               "print(settings.ORBITER_STOMP_USER); print(settings.ORBITER_STOMP_PASSWORD)"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip

    assert shown == list(broker.control_plane)
    assert connect(*shown).subscribe(REPLIES)[0] == "allowed"


def test_a_secret_rotation_accepts_old_and_new_passwords_until_the_old_secret_is_dropped(tmp_path):
    with started(ActiveMQ(tmp_path / "rotating")) as (mq,):
        old = mq.credentials(ME)
        mq.previous_secrets, mq.secret = [mq.secret], secrets.token_urlsafe(48)
        mq.restart()
        new = mq.credentials(ME)

        assert broker_password(read_secret(mq.secret_file), ME) == new[1] != old[1]  # the first line
        for login in (old, new):
            client = Client(mq, *login)
            assert client.subscribe(queue_of(ME))[0] == "allowed"
            client.close()

        mq.previous_secrets = []
        mq.restart()
        Client(mq, *new).close()
        with pytest.raises(stomp.exception.ConnectFailedException):
            Client(mq, *old)
