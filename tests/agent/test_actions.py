"""Only allow-listed actions exist, and each takes exactly its own params."""

import pytest

from orbiter_agent.protocol import Code, ProtocolError, decode_and_verify, make_request
from tests.agent.support import AGENT, NOW, request_object


def refused_request(action, params) -> ProtocolError:
    with pytest.raises(ProtocolError) as refused:
        make_request(action, params, target=AGENT, sender="control-plane", ttl_s=60, now=NOW)
    return refused.value


def test_it_refuses_an_action_that_is_not_allow_listed():
    error = refused_request("shell", {"cmd": "id"})

    assert (error.code, error.field) == (Code.UNKNOWN_ACTION, "action")
    assert "facts, ping, puppet.run" in str(error)


def test_an_agent_refuses_an_unknown_action_even_when_properly_signed(control_plane, agent_keys):
    data = control_plane.send_raw(request_object(action="exec", params={}))

    with pytest.raises(ProtocolError) as refused:
        decode_and_verify(data, keys=agent_keys, now=NOW)
    assert refused.value.code == Code.UNKNOWN_ACTION


@pytest.mark.parametrize(
    ("action", "params", "field", "allowed"),
    [
        ("puppet.run", {}, "params.noop", "true or false"),
        ("puppet.run", {"noop": "yes"}, "params.noop", "true or false"),
        ("puppet.run", {"noop": True, "tags": "web"}, "params.tags", "at most 20 tags"),
        ("puppet.run", {"noop": True, "tags": ["ok"] * 21}, "params.tags", "at most 20 tags"),
        (
            "puppet.run",
            {"noop": True, "tags": ["ok", "not ok"]},
            "params.tags[1]",
            "A-Z a-z 0-9 _ : -",
        ),
        ("puppet.run", {"noop": True, "tags": ["x" * 65]}, "params.tags[0]", "1-64 chars"),
        ("puppet.run", {"noop": True, "tags": [""]}, "params.tags[0]", "1-64 chars"),
        ("puppet.run", {"noop": True, "timeout_s": 0}, "params.timeout_s", "from 1 to 7200"),
        ("puppet.run", {"noop": True, "timeout_s": 7201}, "params.timeout_s", "from 1 to 7200"),
        ("puppet.run", {"noop": True, "timeout_s": 60.5}, "params.timeout_s", "integer"),
        ("puppet.run", {"noop": True, "timeout_s": True}, "params.timeout_s", "integer"),
        (
            "puppet.run",
            {"noop": True, "environment": "prod"},
            "params.environment",
            "allows noop, tags, timeout_s",
        ),
        ("ping", {"verbose": True}, "params.verbose", "takes no params"),
        ("facts", {"only": ["os"]}, "params.only", "takes no params"),
        ("facts", ["os"], "params", "must be an object"),
    ],
)
def test_it_refuses_bad_params_naming_the_field_and_what_is_allowed(action, params, field, allowed):
    error = refused_request(action, params)

    assert (error.code, error.field) == (Code.BAD_PARAMS, field)
    assert str(error).startswith(field)
    assert allowed in str(error)


def test_an_agent_refuses_bad_params_even_when_properly_signed(control_plane, agent_keys):
    obj = request_object(action="puppet.run", params={"noop": False, "timeout_s": 99999})

    with pytest.raises(ProtocolError) as refused:
        decode_and_verify(control_plane.send_raw(obj), keys=agent_keys, now=NOW)
    assert (refused.value.code, refused.value.field) == (Code.BAD_PARAMS, "params.timeout_s")


def test_it_accepts_the_widest_puppet_run_allowed():
    tags = [f"role::tier_{i}" for i in range(20)]

    request = make_request(
        "puppet.run",
        {"noop": True, "tags": tags, "timeout_s": 7200},
        target=AGENT,
        sender="control-plane",
        ttl_s=60,
        now=NOW,
    )

    assert request.params == {"noop": True, "tags": tags, "timeout_s": 7200}


@pytest.mark.parametrize("ttl_s", [0, -5, 86400 + 1])
def test_it_refuses_a_time_to_live_out_of_range(ttl_s):
    with pytest.raises(ProtocolError) as refused:
        make_request("ping", {}, target="*", sender="control-plane", ttl_s=ttl_s, now=NOW)
    assert refused.value.field == "ttl_s"


@pytest.mark.parametrize("sender", ["Control-Plane", "-agent", "web_01", ""])
def test_it_refuses_a_sender_that_is_not_a_dns_like_name(sender):
    with pytest.raises(ProtocolError) as refused:
        make_request("ping", {}, target="*", sender=sender, ttl_s=60, now=NOW)
    assert (refused.value.code, refused.value.field) == (Code.BAD_FIELD, "sender")
