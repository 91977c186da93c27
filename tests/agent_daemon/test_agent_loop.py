"""The agent's loop without a broker: which messages run, which are answered, and when
facts go out. A stand-in connection records what the agent sends and ACKs."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orbiter_agent import daemon
from orbiter_agent.config import load_config
from orbiter_agent.protocol import (
    KeyRing,
    canonical,
    decode_and_verify,
    encode,
    generate_keypair,
    make_request,
    parse_public_key,
    sign,
    write_private_key,
    write_public_key,
)
from orbiter_agent.transport import BROADCAST_SUB, REQUESTS, Inbound, Listener

CERTNAME = "web-01.example.test"
RUN = {"noop": False, "timeout_s": 30}


class FakeConnection:
    """Records ("send", body) and ("ack", id) in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def send(self, destination: str, body: bytes, headers: dict[str, str]) -> None:
        assert destination == "/queue/orbiter.replies" and headers["persistent"] == "true"
        self.log.append(("send", json.loads(body)))

    def ack(self, ack_id: str) -> None:
        self.log.append(("ack", ack_id))

    def disconnect(self, receipt: str | None = None) -> None:
        pass


class Setup:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs = tmp_path / "runs"
        self.control_plane = Ed25519PrivateKey.generate()
        private_pem, public_b64 = generate_keypair()
        write_private_key(tmp_path / "agent.key", private_pem)
        public = self.control_plane.public_key().public_bytes_raw()
        write_public_key(tmp_path / "cp.pub", base64.b64encode(public).decode())
        self.agent_keys = KeyRing({CERTNAME: parse_public_key(public_b64.encode())})
        command = ["/bin/sh", "-c", f"echo run >> {self.runs}; exit 2"]
        (tmp_path / "agent.toml").write_text(
            f'certname = "{CERTNAME}"\nbrokers = ["stomp://127.0.0.1:9"]\n'
            'private_key = "agent.key"\ncontrol_plane_public_key = "cp.pub"\n'
            f'state_dir = "state"\n[puppet]\ncommand = {json.dumps(command)}\n'
            f'publicdir = "{tmp_path}/public"\nvardir = "{tmp_path}/var"\n'
        )
        self.conn = FakeConnection()
        monkeypatch.setattr(
            daemon, "connect", lambda cfg, inbox, gen, *_: (self.conn, Listener(inbox, gen))
        )
        self.agent = daemon.Agent(load_config(tmp_path / "agent.toml"))
        assert self.agent.step_connect()

    @property
    def puppet_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0

    def deliver(self, body: bytes, subscription: str = REQUESTS) -> None:
        ack_id = "ack-1" if subscription == REQUESTS else None
        self.agent.inbox.put(Inbound(1, subscription, ack_id, body))
        assert self.agent.step_message(wait_s=0)

    def request(self, action: str, params: dict | None = None, target: str = CERTNAME) -> bytes:
        envelope = make_request(
            action, params or {}, target=target, sender="control-plane", ttl_s=60,
            now=time.time(),
        )  # fmt: skip
        return encode(sign(envelope, self.control_plane))

    def signed_raw(self, obj: dict[str, Any]) -> bytes:
        signature = self.control_plane.sign(canonical(obj))
        b64 = base64.b64encode(signature).decode()
        return json.dumps({**obj, "signature": b64}).encode()

    def sent(self) -> list[tuple[str, Any]]:
        """What went out since the start-up report."""
        return self.conn.log[1:]


@pytest.fixture
def setup(tmp_path, monkeypatch) -> Setup:
    return Setup(tmp_path, monkeypatch)


def events(capsys, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    return [e for e in lines if e["event"] == name]


def test_it_reports_once_connected(setup):
    [(what, report)] = setup.conn.log

    assert what == "send" and report["kind"] == "report" and report["action"] == "facts"
    assert report["result"] == {"ok": True, "certname": CERTNAME, "packages": {}, "last_run": None}
    body = json.dumps(report).encode()
    assert (
        decode_and_verify(body, keys=setup.agent_keys, now=report["issued_at"]).sender == CERTNAME
    )


def test_a_request_for_another_host_is_refused_acked_and_not_answered(setup, capsys):
    setup.deliver(setup.request("puppet.run", RUN, target="db-02.example.test"))

    assert setup.sent() == [("ack", "ack-1")]  # no reply, no report; ACKed, not redelivered
    [refused] = events(capsys, "refused")
    assert (refused["code"], refused["field"]) == ("wrong_target", "target")
    assert setup.puppet_runs == 0 and len(setup.agent.store) == 0


def test_a_puppet_run_for_every_host_is_refused(setup, capsys):
    request = json.loads(setup.request("puppet.run", RUN))
    del request["signature"]

    setup.deliver(setup.signed_raw({**request, "target": "*"}))

    assert setup.sent() == [("ack", "ack-1")]
    assert [e["code"] for e in events(capsys, "refused")] == ["wrong_target"]
    assert setup.puppet_runs == 0


def test_a_puppet_run_for_this_host_is_answered_with_its_facts_then_acked(setup):
    setup.deliver(setup.request("puppet.run", RUN))

    (what1, reply), (what2, _) = setup.sent()  # no separate report: the facts are in the reply
    assert (what1, reply["kind"], reply["result"]["kind"]) == ("send", "reply", "changed")
    assert reply["result"]["facts"] == {"packages": {}, "last_run": None}
    assert "target" not in reply
    assert what2 == "ack"
    assert setup.puppet_runs == 1


@pytest.mark.parametrize(
    ("target", "subscription"), [(CERTNAME, REQUESTS), ("*", REQUESTS), ("*", BROADCAST_SUB)]
)
def test_a_ping_is_answered_without_a_report(setup, target, subscription):
    setup.deliver(setup.request("ping", target=target), subscription)

    [(what, reply), *acks] = setup.sent()
    assert (what, reply["result"]["pong"]) == ("send", CERTNAME)
    assert acks == ([("ack", "ack-1")] if subscription == REQUESTS else [])


def test_a_copy_of_a_puppet_run_on_the_topic_is_refused_and_the_real_one_on_the_queue_runs(
    setup, capsys
):
    """Someone who may write to the topic copies a real request there first: the copy must
    not use up the request's id, or the real one would be refused as a replay."""
    body = setup.request("puppet.run", RUN)

    setup.deliver(body, BROADCAST_SUB)
    assert setup.sent() == []  # not answered: the control plane never sent it there
    [refused] = events(capsys, "refused")
    assert (refused["code"], refused["field"]) == ("wrong_target", "target")
    assert "only on its own queue" in refused["error"]

    setup.deliver(body, REQUESTS)
    (what, reply), ack = setup.sent()
    assert (what, reply["result"]["ok"], reply["result"]["kind"]) == ("send", True, "changed")
    assert ack == ("ack", "ack-1")
    assert setup.puppet_runs == 1


def test_a_broadcast_replayed_on_the_topic_is_not_answered_twice(setup, capsys):
    body = setup.request("ping", target="*")

    setup.deliver(body, BROADCAST_SUB)
    setup.deliver(body, BROADCAST_SUB)

    [(what, reply)] = setup.sent()
    assert (what, reply["result"]["pong"]) == ("send", CERTNAME)
    assert [e["code"] for e in events(capsys, "refused")] == ["replay"]


def test_after_a_failed_connection_attempt_the_loop_waits_only_until_the_next_one(
    tmp_path, monkeypatch, capsys
):
    setup = Setup(tmp_path, monkeypatch)
    agent = setup.agent
    agent.step_disconnect()

    def refused(*_):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(daemon, "connect", refused)
    assert not agent.step_connect()

    [failed] = events(capsys, "connect_failed")
    assert 0.5 <= failed["retry_in_s"] <= 1.0  # the first step of the backoff, jittered
    assert 0 < agent.wait_s() <= failed["retry_in_s"] + 0.001  # not the idle wait (30 s)
    started = time.monotonic()
    assert not agent.step_message(agent.wait_s())
    assert time.monotonic() - started < 1.5
    assert not agent.step_connect()  # the next attempt, at once
    [second] = events(capsys, "connect_failed")
    assert 1.0 <= second["retry_in_s"] <= 2.0


@pytest.mark.parametrize("tag", ["--noop", "-d", "--debug", "-", ":x"])
def test_a_puppet_run_whose_tag_looks_like_an_option_is_refused_and_never_runs_puppet(
    setup, capsys, tag
):
    request = json.loads(setup.request("puppet.run", RUN))  # make_request refuses such a tag
    del request["signature"]

    setup.deliver(setup.signed_raw({**request, "params": {**RUN, "tags": ["web", tag]}}))

    assert setup.sent() == [("ack", "ack-1")]
    [refused] = events(capsys, "refused")
    assert refused["field"] == "params.tags[1]" and "not starting with -" in refused["error"]
    assert setup.puppet_runs == 0 and len(setup.agent.store) == 0
