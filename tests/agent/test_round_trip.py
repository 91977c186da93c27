"""A signed request reaches the agent intact, and its reply reaches the control plane."""

import json
import uuid

from orbiter_agent.protocol import decode_and_verify, make_reply, make_request
from tests.agent.support import AGENT, NOW


def test_an_agent_accepts_a_request_signed_by_the_control_plane(control_plane, agent_keys):
    sent = control_plane.puppet_run(tags=["shop_api", "nginx::config"], timeout_s=900)

    received = decode_and_verify(control_plane.send(sent), keys=agent_keys, now=NOW + 1)

    assert received.action == "puppet.run"
    assert received.params == {
        "noop": False,
        "tags": ["shop_api", "nginx::config"],
        "timeout_s": 900,
    }
    assert (received.id, received.sender, received.kind) == (sent.id, "control-plane", "request")
    assert received.signature


def test_the_control_plane_accepts_the_agents_reply(control_plane, agent, control_plane_keys):
    request = control_plane.puppet_run()
    result = {"ok": True, "exit_code": 2, "changed": True, "resources": {"changed": 3, "failed": 0},
              "output_tail": "Notice: café"}

    reply = make_reply(request, result, sender=agent.name, now=NOW + 40)
    received = decode_and_verify(agent.send(reply), keys=control_plane_keys, now=NOW + 41)

    assert (received.kind, received.in_reply_to, received.action) == (
        "reply",
        request.id,
        "puppet.run",
    )
    assert received.result == result
    assert received.sender == "web-01.example.test"


def test_a_reply_is_valid_at_least_as_long_as_its_request(control_plane, agent):
    request = control_plane.puppet_run(ttl_s=3600)

    reply = make_reply(request, {"ok": True}, sender=agent.name, now=NOW + 5)

    assert reply.expires_at == request.expires_at


def test_a_puppet_run_gets_default_tags_and_timeout(control_plane):
    request = control_plane.puppet_run()

    assert request.params == {"noop": False, "tags": [], "timeout_s": 1800}


def test_ping_and_facts_carry_no_params(control_plane, agent_keys):
    for action in ("ping", "facts"):
        sent = make_request(action, {}, target="*", sender="control-plane", ttl_s=30, now=NOW)

        received = decode_and_verify(control_plane.send(sent), keys=agent_keys, now=NOW)

        assert (received.action, received.params) == (action, {})


def test_each_request_gets_a_fresh_id_unless_given_one(control_plane):
    first, second = control_plane.puppet_run(), control_plane.puppet_run()
    chosen = make_request(
        "ping", {}, target=AGENT, sender="control-plane", ttl_s=30, now=NOW, id="deploy-7:host-3"
    )

    assert first.id != second.id
    assert uuid.UUID(first.id)
    assert chosen.id == "deploy-7:host-3"


def test_the_wire_form_is_one_compact_json_object_with_its_signature(control_plane):
    data = control_plane.send(control_plane.puppet_run())

    obj = json.loads(data)
    assert set(obj) == {
        "version",
        "id",
        "kind",
        "action",
        "params",
        "target",
        "sender",
        "issued_at",
        "expires_at",
        "signature",
    }
    assert obj["version"] == 1
    assert b" " not in data
