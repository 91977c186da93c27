"""The agent refuses what is unsigned, forged, malformed, out of time or replayed.

Each refusal has its own code, so logs and metrics can tell an attack from a bad clock.
"""

import json

import pytest

from orbiter_agent.protocol import (
    Code,
    ProtocolError,
    ReplayStore,
    decode_and_verify,
    encode,
    make_reply,
)
from tests.agent.support import NOW, request_object


def refusal(data: bytes, keys, *, now: float = NOW, **options) -> ProtocolError:
    with pytest.raises(ProtocolError) as refused:
        decode_and_verify(data, keys=keys, now=now, **options)
    return refused.value


def test_it_refuses_a_request_whose_params_were_tampered_with(control_plane, agent_keys):
    data = control_plane.send(control_plane.puppet_run(tags=["shop_api"]))
    tampered = data.replace(b"shop_api", b"shop_apj")

    assert len(tampered) == len(data)
    assert refusal(tampered, agent_keys).code == Code.BAD_SIGNATURE


def test_it_refuses_a_request_signed_with_another_key(outsider, agent_keys):
    forged = outsider.send(outsider.puppet_run())

    error = refusal(forged, agent_keys)

    assert (error.code, error.field) == (Code.BAD_SIGNATURE, "signature")


def test_it_refuses_a_forgery_before_reading_anything_the_forger_wrote(outsider, agent_keys):
    forged = outsider.send_raw(request_object(version=99, action="shell", params={"cmd": "id"}))

    assert refusal(forged, agent_keys).code == Code.BAD_SIGNATURE


def test_it_refuses_a_sender_it_has_no_key_for(agent, agent_keys):
    error = refusal(agent.send(agent.puppet_run()), agent_keys)

    assert error.code == Code.UNKNOWN_SENDER
    assert "web-01.example.test" in str(error)


@pytest.mark.parametrize("signature", [None, ""])
def test_it_refuses_an_unsigned_request(control_plane, agent_keys, signature):
    obj = json.loads(control_plane.send(control_plane.puppet_run()))
    if signature is None:
        del obj["signature"]
    else:
        obj["signature"] = signature

    assert refusal(json.dumps(obj).encode(), agent_keys).code == Code.UNSIGNED


def test_it_refuses_a_signature_that_is_not_ed25519(control_plane, agent_keys):
    obj = json.loads(control_plane.send(control_plane.puppet_run()))
    obj["signature"] = "bm90IGEgc2lnbmF0dXJl"

    assert refusal(json.dumps(obj).encode(), agent_keys).code == Code.BAD_SIGNATURE


def test_it_refuses_an_expired_request(control_plane, agent_keys):
    data = control_plane.send(control_plane.puppet_run(ttl_s=300))

    assert decode_and_verify(data, keys=agent_keys, now=NOW + 299.9)
    assert refusal(data, agent_keys, now=NOW + 300).code == Code.EXPIRED


def test_it_refuses_a_request_issued_in_the_future_beyond_the_clock_skew(control_plane, agent_keys):
    data = control_plane.send(control_plane.puppet_run())

    assert decode_and_verify(data, keys=agent_keys, now=NOW - 60)
    error = refusal(data, agent_keys, now=NOW - 61)
    assert (error.code, error.field) == (Code.ISSUED_IN_FUTURE, "issued_at")
    assert refusal(data, agent_keys, now=NOW - 11, max_skew_s=10).code == Code.ISSUED_IN_FUTURE


def test_it_refuses_a_request_it_has_already_received(control_plane, agent_keys, tmp_path):
    request = control_plane.puppet_run()
    data = control_plane.send(request)
    with ReplayStore(tmp_path, clock=lambda: NOW) as store:
        first = decode_and_verify(data, keys=agent_keys, now=NOW, seen=store)
        store.remember(first.id, first.expires_at, None)

        error = refusal(data, agent_keys, now=NOW + 5, seen=store)

    assert error.code == Code.REPLAY
    assert error.envelope is not None and error.envelope.id == request.id


def test_it_leaves_replay_checks_to_the_caller_without_a_store(control_plane, agent_keys):
    data = control_plane.send(control_plane.puppet_run())

    assert decode_and_verify(data, keys=agent_keys, now=NOW) == decode_and_verify(
        data, keys=agent_keys, now=NOW
    )


def test_it_refuses_a_message_that_is_too_large(control_plane, agent_keys):
    data = control_plane.send(control_plane.puppet_run())

    assert refusal(data + b" " * (64 * 1024), agent_keys).code == Code.TOO_LARGE
    assert refusal(data, agent_keys, max_bytes=len(data) - 1).code == Code.TOO_LARGE


def test_an_agent_cannot_send_a_reply_too_large_to_be_accepted(control_plane, agent):
    reply = make_reply(
        control_plane.puppet_run(),
        {"ok": False, "log_tail": "x" * 70_000},
        sender=agent.name,
        now=NOW,
    )

    with pytest.raises(ProtocolError) as refused:
        encode(reply)
    assert refused.value.code == Code.UNSIGNED
    with pytest.raises(ProtocolError) as refused:
        agent.send(reply)
    assert refused.value.code == Code.TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [
        b"puppet run please",
        b"\xff\xfe",
        b'["a", "list"]',
        b'{"a": NaN}',
        b'{"a": 1, "a": 2}',
    ],
)
def test_it_refuses_what_is_not_a_json_object(agent_keys, data):
    assert refusal(data, agent_keys, max_bytes=10**6).code == Code.NOT_JSON


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 100_000,  # deeper than the parser's stack
        b'{"a": ' + b"[" * 990 + b"]" * 990 + b', "signature": "x", "sender": "web-01"}',
        b'{"a": ' + b"[" * 16 + b"]" * 16 + b"}",  # 17 levels with the object
    ],
)
def test_it_refuses_what_nests_too_deeply_before_reading_any_field(agent_keys, data):
    assert refusal(data, agent_keys, max_bytes=10**6).code == Code.TOO_DEEP


def test_it_refuses_another_protocol_version(control_plane, agent_keys):
    error = refusal(control_plane.send_raw(request_object(version=2)), agent_keys)

    assert (error.code, error.field) == (Code.WRONG_VERSION, "version")


@pytest.mark.parametrize(
    "missing", ["id", "kind", "action", "target", "params", "issued_at", "expires_at"]
)
def test_it_refuses_a_request_missing_a_field(control_plane, agent_keys, missing):
    obj = request_object()
    del obj[missing]

    error = refusal(control_plane.send_raw(obj), agent_keys)

    assert (error.code, error.field) == (Code.MISSING_FIELD, missing)


def test_it_refuses_a_request_with_an_extra_field(control_plane, agent_keys):
    error = refusal(control_plane.send_raw(request_object(command="rm -rf /")), agent_keys)

    assert (error.code, error.field) == (Code.EXTRA_FIELD, "command")
    assert "allowed:" in str(error)


def test_it_refuses_a_request_carrying_a_result(control_plane, agent_keys):
    error = refusal(control_plane.send_raw(request_object(result={"ok": True})), agent_keys)

    assert (error.code, error.field) == (Code.EXTRA_FIELD, "result")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "has spaces"),
        ("id", "x" * 129),
        ("kind", "order"),
        ("issued_at", "yesterday"),
        ("expires_at", NOW - 1),
        ("expires_at", NOW + 2 * 86400),
        ("issued_at", 10**400),
    ],
)
def test_it_refuses_a_field_that_breaks_its_rule(control_plane, agent_keys, field, value):
    error = refusal(control_plane.send_raw(request_object(**{field: value})), agent_keys)

    assert (error.code, error.field) == (Code.BAD_FIELD, field)


def test_it_refuses_a_reply_without_an_ok(agent, control_plane_keys):
    reply = request_object(
        kind="reply", sender=agent.name, result={"exit_code": 0}, in_reply_to="req-0"
    )
    del reply["params"], reply["target"]

    error = refusal(agent.send_raw(reply), control_plane_keys)

    assert (error.code, error.field) == (Code.BAD_FIELD, "result")
