"""What is forged, expired, unsigned or misdirected is refused, logged, and never runs Puppet."""

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orbiter_agent.protocol import encode, sign

pytestmark = pytest.mark.integration
RUN = {"noop": False, "timeout_s": 60}


def test_it_refuses_forged_expired_and_unsigned_requests(host, control_plane):
    forged = control_plane.request("puppet.run", RUN)
    expired = control_plane.request("puppet.run", RUN, now=time.time() - 600, ttl_s=300)
    unsigned = control_plane.request("puppet.run", RUN)
    outsider = Ed25519PrivateKey.generate()  # claims to be the control plane

    control_plane.send(host, encode(sign(forged, outsider)))
    control_plane.send(host, control_plane.signed(host, expired))
    control_plane.send(host, json.dumps(unsigned.to_dict()).encode())
    control_plane.send(host, b"not json at all")
    ping = control_plane.request("ping")  # answered after the others: same queue, in order
    control_plane.send(host, control_plane.signed(host, ping))
    control_plane.replies_to(host, ping)

    refused = {e["code"]: e for e in host.events("refused")}
    assert set(refused) == {"bad_signature", "expired", "unsigned", "not_json"}
    assert refused["expired"]["id"] == expired.id  # verified: worth telling the sender
    [(_, _, reply)] = control_plane.replies_to(host, expired)
    assert reply.result["ok"] is False and reply.result["transient"] is False
    assert reply.result["code"] == "expired"
    assert reply.result["error"].startswith("refused (expired): message expired")
    answered = {json.loads(body)["in_reply_to"] for _, body in control_plane.replies}
    assert forged.id not in answered and unsigned.id not in answered
    assert host.puppet_runs == 0


def test_it_refuses_a_puppet_run_broadcast_to_every_host(host, control_plane):
    request = control_plane.request("puppet.run", RUN)
    control_plane.send(host, control_plane.signed(host, request), "/topic/orbiter.all")

    [(_, _, reply)] = control_plane.replies_to(host, request)

    assert reply.result["ok"] is False and reply.result["transient"] is False
    assert "only on this host's queue" in reply.result["error"]
    assert host.puppet_runs == 0
