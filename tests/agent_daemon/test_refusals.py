"""What is forged, expired, unsigned or misdirected is refused, logged, and never runs Puppet."""

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orbiter_agent.protocol import encode, sign
from tests.agent_daemon.support import wait_until

pytestmark = pytest.mark.integration
RUN = {"noop": False, "timeout_s": 60}


def test_it_refuses_forged_expired_and_unsigned_requests(host, control_plane):
    forged = control_plane.request("puppet.run", RUN, target=host)
    expired = control_plane.request(
        "puppet.run", RUN, target=host, now=time.time() - 600, ttl_s=300
    )
    unsigned = control_plane.request("puppet.run", RUN, target=host)
    outsider = Ed25519PrivateKey.generate()  # claims to be the control plane

    control_plane.send(host, encode(sign(forged, outsider)))
    control_plane.send(host, control_plane.signed(host, expired))
    control_plane.send(host, json.dumps(unsigned.to_dict()).encode())
    control_plane.send(host, b"not json at all")
    # answered after the others: same queue, in order
    ping = control_plane.request("ping", target=host)
    control_plane.send(host, control_plane.signed(host, ping))
    control_plane.replies_to(host, ping)

    refused = {e["code"]: e for e in host.events("refused")}
    assert set(refused) == {"bad_signature", "expired", "unsigned", "not_json"}
    assert refused["expired"]["id"] == expired.id  # verified: worth telling the sender
    [(_, _, reply)] = control_plane.replies_to(host, expired)
    assert reply.result["ok"] is False and reply.result["transient"] is False
    assert reply.result["code"] == "expired"
    assert reply.result["error"].startswith("refused (expired): message expired")
    answered = {json.loads(body).get("in_reply_to") for _, body in control_plane.replies}
    assert forged.id not in answered and unsigned.id not in answered
    assert host.puppet_runs == 0


def test_a_puppet_run_copied_onto_the_topic_is_refused_and_the_real_one_still_runs(
    host, control_plane
):
    """The copy is not answered (an answer would settle the real request as failed) and
    does not use up the request's id: the real copy on the host's queue runs once."""
    request = control_plane.request("puppet.run", RUN, target=host)
    body = control_plane.signed(host, request)
    control_plane.send(host, body, "/topic/orbiter.all")
    wait_until(lambda: host.count("refused"), 30, "the copy on the topic to be refused")

    control_plane.send(host, body)
    [(_, _, reply)] = control_plane.replies_to(host, request, timeout=120)

    assert reply.result["ok"] is True and reply.result["kind"] == "changed"
    [refused] = host.events("refused")
    assert (refused["code"], refused["field"]) == ("wrong_target", "target")
    assert "only on its own queue" in refused["error"]
    assert host.puppet_runs == 1


def test_it_refuses_a_request_for_another_host_without_running_or_answering(host, control_plane):
    """A request signed for another host and moved onto this host's queue by someone with
    broker access; and a puppet.run for every host, which the control plane cannot make."""
    moved = control_plane.request("puppet.run", RUN, target="db-02.example.test")
    everyone = {**control_plane.request("puppet.run", RUN, target=host).to_dict(), "target": "*"}
    del everyone["signature"]

    control_plane.send(host, control_plane.signed(host, moved))
    control_plane.send(host, control_plane.signed_raw(host, everyone))
    ping = control_plane.request("ping", target=host)  # answered after the others
    control_plane.send(host, control_plane.signed(host, ping))
    control_plane.replies_to(host, ping)

    refused = host.events("refused")
    assert [(e["code"], e["field"]) for e in refused] == [("wrong_target", "target")] * 2
    assert "db-02.example.test" in refused[0]["error"] and host.certname in refused[0]["error"]
    assert "puppet.run must target one host" in refused[1]["error"]
    answered = {json.loads(body).get("in_reply_to") for body in control_plane.received()}
    assert moved.id not in answered and everyone["id"] not in answered
    assert host.count("request") == 1  # the ping only
    assert host.puppet_runs == 0


def test_it_refuses_an_unknown_sender_an_unknown_action_and_an_oversized_message(host, control_plane):
    stranger = control_plane.request("puppet.run", RUN, target=host).to_dict()
    stranger["sender"] = "mallory.example.test"  # signed, but by a key nobody trusts
    shell = {**control_plane.request("ping", target=host).to_dict(), "action": "shell.exec",
             "params": {"command": "rm -rf /"}}

    control_plane.send(host, control_plane.signed_raw(host, stranger))
    control_plane.send(host, control_plane.signed_raw(host, shell))  # signed by the real key
    control_plane.send(host, b'{"padding": "' + b"x" * 70_000 + b'"}')
    ping = control_plane.request("ping", target=host)  # answered after the others: same queue, in order
    control_plane.send(host, control_plane.signed(host, ping))
    control_plane.replies_to(host, ping)

    refused = {e["code"] for e in host.events("refused")}
    assert {"unknown_sender", "unknown_action", "too_large"} <= refused
    assert host.puppet_runs == 0
