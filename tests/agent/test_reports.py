"""An agent reports its facts unasked, signed like a reply: kind "report", action facts,
no in_reply_to. Only an agent reports, and only facts."""

import json

import pytest

from orbiter_agent.protocol import Code, ProtocolError, decode_and_verify, make_report
from tests.agent.support import NOW

FACTS = {
    "ok": True,
    "certname": "web-01.example.test",
    "packages": {"puppet-agent": "7.34.0-1jammy", "shop-api": None},
    "last_run": None,
}


def report_object(sender: str, **overrides) -> dict:
    obj = make_report(FACTS, sender="web-01.example.test", now=NOW).to_dict()
    del obj["signature"]
    return {**obj, "sender": sender, **overrides}


def test_the_control_plane_accepts_a_report_signed_by_the_agent(agent, control_plane_keys):
    sent = make_report(FACTS, sender=agent.name, now=NOW)

    data = agent.send(sent)
    received = decode_and_verify(data, keys=control_plane_keys, now=NOW + 1)

    assert (received.kind, received.action, received.sender) == ("report", "facts", agent.name)
    assert received.result == FACTS and received.in_reply_to is None
    assert set(json.loads(data)) == {
        "version", "id", "kind", "action", "sender", "issued_at", "expires_at", "result",
        "signature",
    }  # fmt: skip


def test_a_report_stays_valid_for_an_hour_by_default(agent):
    report = make_report(FACTS, sender=agent.name, now=NOW)

    assert report.expires_at == NOW + 3600
    assert make_report(FACTS, sender=agent.name, now=NOW, ttl_s=60).expires_at == NOW + 60


def test_each_report_gets_a_fresh_id(agent):
    assert (
        make_report(FACTS, sender=agent.name, now=NOW).id
        != make_report(FACTS, sender=agent.name, now=NOW).id
    )


def test_the_control_plane_cannot_make_a_report():
    with pytest.raises(ProtocolError) as refused:
        make_report(FACTS, sender="control-plane", now=NOW)

    assert (refused.value.code, refused.value.field) == (Code.BAD_FIELD, "sender")


def test_an_agent_refuses_a_report_claiming_to_be_from_the_control_plane(control_plane, agent_keys):
    data = control_plane.send_raw(report_object("control-plane"))

    with pytest.raises(ProtocolError) as refused:
        decode_and_verify(data, keys=agent_keys, now=NOW)

    assert (refused.value.code, refused.value.field) == (Code.BAD_FIELD, "sender")
    assert "not by 'control-plane'" in str(refused.value)


@pytest.mark.parametrize("action", ["ping", "puppet.run"])
def test_it_refuses_a_report_of_anything_but_facts(agent, control_plane_keys, action):
    data = agent.send_raw(report_object(agent.name, action=action))

    with pytest.raises(ProtocolError) as refused:
        decode_and_verify(data, keys=control_plane_keys, now=NOW)

    assert (refused.value.code, refused.value.field) == (Code.BAD_FIELD, "action")


@pytest.mark.parametrize(
    ("extra", "value"), [("in_reply_to", "req-1"), ("params", {}), ("target", "*")]
)
def test_a_report_answers_nothing_and_asks_nothing(agent, control_plane_keys, extra, value):
    data = agent.send_raw(report_object(agent.name, **{extra: value}))

    with pytest.raises(ProtocolError) as refused:
        decode_and_verify(data, keys=control_plane_keys, now=NOW)

    assert (refused.value.code, refused.value.field) == (Code.EXTRA_FIELD, extra)


def test_a_report_needs_a_result_with_ok(agent, control_plane_keys):
    with pytest.raises(ProtocolError) as made:
        make_report({"packages": {}}, sender=agent.name, now=NOW)
    data = agent.send_raw(report_object(agent.name, result={"packages": {}}))
    with pytest.raises(ProtocolError) as received:
        decode_and_verify(data, keys=control_plane_keys, now=NOW)

    assert made.value.field == received.value.field == "result"


def test_an_expired_report_is_refused(agent, control_plane_keys):
    data = agent.send(make_report(FACTS, sender=agent.name, now=NOW, ttl_s=60))

    with pytest.raises(ProtocolError) as refused:
        decode_and_verify(data, keys=control_plane_keys, now=NOW + 60)

    assert refused.value.code == Code.EXPIRED


@pytest.mark.parametrize("ttl_s", [0, 86400 + 1])
def test_it_refuses_a_report_time_to_live_out_of_range(agent, ttl_s):
    with pytest.raises(ProtocolError) as refused:
        make_report(FACTS, sender=agent.name, now=NOW, ttl_s=ttl_s)

    assert refused.value.field == "ttl_s"
