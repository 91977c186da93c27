"""A request names its host in a signed `target`: moved onto another host's queue, it is
refused there. puppet.run always names one host; only ping and facts may go to every host."""

import json

import pytest

from orbiter_agent.protocol import (
    BROADCAST,
    Code,
    ProtocolError,
    ReplayStore,
    decode_and_verify,
    make_reply,
    make_request,
)
from tests.agent.support import AGENT, NOW, request_object

OTHER = "db-02.example.test"


def refusal(data: bytes, keys, **options) -> ProtocolError:
    with pytest.raises(ProtocolError) as refused:
        decode_and_verify(data, keys=keys, now=NOW, **options)
    return refused.value


def test_a_request_carries_its_signed_target(control_plane, agent_keys):
    data = control_plane.send(control_plane.puppet_run(target=AGENT))

    assert json.loads(data)["target"] == AGENT
    assert decode_and_verify(data, keys=agent_keys, now=NOW, recipient=AGENT).target == AGENT


def test_the_target_is_a_required_keyword():
    with pytest.raises(TypeError):
        make_request("ping", {}, sender="control-plane", ttl_s=60, now=NOW)  # type: ignore[call-arg]


def test_an_agent_refuses_a_request_for_another_host(control_plane, agent_keys):
    data = control_plane.send(control_plane.puppet_run(target=OTHER))

    error = refusal(data, agent_keys, recipient=AGENT)

    assert (error.code, error.field) == (Code.WRONG_TARGET, "target")
    assert OTHER in str(error) and AGENT in str(error)


def test_moving_a_request_to_another_host_by_rewriting_its_target_breaks_the_signature(
    control_plane, agent_keys
):
    data = control_plane.send(control_plane.puppet_run(target=OTHER))
    moved = data.replace(OTHER.encode(), AGENT.encode())

    assert refusal(moved, agent_keys, recipient=AGENT).code == Code.BAD_SIGNATURE


@pytest.mark.parametrize("action", ["ping", "facts"])
def test_every_host_accepts_a_broadcast_ping_or_facts(control_plane, agent_keys, action):
    request = make_request(action, {}, target=BROADCAST, sender="control-plane", ttl_s=60, now=NOW)

    received = decode_and_verify(
        control_plane.send(request), keys=agent_keys, now=NOW, recipient=AGENT
    )

    assert received.target == "*"


def test_nobody_can_make_a_puppet_run_for_every_host():
    with pytest.raises(ProtocolError) as refused:
        make_request(
            "puppet.run", {"noop": True}, target="*", sender="control-plane", ttl_s=60, now=NOW
        )

    assert (refused.value.code, refused.value.field) == (Code.WRONG_TARGET, "target")


def test_an_agent_refuses_a_signed_puppet_run_for_every_host(control_plane, agent_keys):
    obj = request_object(action="puppet.run", params={"noop": False}, target="*")

    error = refusal(control_plane.send_raw(obj), agent_keys, recipient=AGENT)

    assert (error.code, error.field) == (Code.WRONG_TARGET, "target")


@pytest.mark.parametrize("target", ["", "Web_01", "**", None, ["*"], "x" * 254])
def test_it_refuses_a_target_that_is_neither_a_certname_nor_a_broadcast(target):
    with pytest.raises(ProtocolError) as refused:
        make_request("ping", {}, target=target, sender="control-plane", ttl_s=60, now=NOW)

    assert (refused.value.code, refused.value.field) == (Code.BAD_FIELD, "target")
    assert "a certname or '*'" in str(refused.value)


def test_the_target_is_checked_before_time_and_replay(control_plane, agent_keys, tmp_path):
    """A misdirected request gets no 'expired' reply and no stored reply resent."""
    request = control_plane.puppet_run(target=OTHER, ttl_s=60)
    data = control_plane.send(request)
    with ReplayStore(tmp_path, clock=lambda: NOW) as store:
        store.remember(request.id, request.expires_at, b"a stored reply")

        late = refusal(data, agent_keys, recipient=AGENT, seen=store)
        with pytest.raises(ProtocolError) as expired:
            decode_and_verify(data, keys=agent_keys, now=NOW + 61, recipient=AGENT, seen=store)

    assert late.code == Code.WRONG_TARGET
    assert expired.value.code == Code.WRONG_TARGET


def test_without_a_recipient_the_target_is_left_to_the_caller(control_plane, agent_keys):
    data = control_plane.send(control_plane.puppet_run(target=OTHER))

    assert decode_and_verify(data, keys=agent_keys, now=NOW).target == OTHER


def test_a_reply_does_not_carry_the_target(control_plane, agent, control_plane_keys):
    request = control_plane.puppet_run(target=AGENT)

    reply = make_reply(request, {"ok": True}, sender=agent.name, now=NOW)

    assert "target" not in reply.to_dict()
    forged = {**reply.to_dict(), "target": AGENT}
    error = refusal(agent.send_raw(forged), control_plane_keys)
    assert (error.code, error.field) == (Code.EXTRA_FIELD, "target")
