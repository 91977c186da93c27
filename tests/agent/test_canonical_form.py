"""What is signed does not depend on how a dict happened to be built or printed."""

import json

from orbiter_agent.protocol import canonical, decode_and_verify
from tests.agent.support import NOW, request_object


def test_the_canonical_form_is_the_same_whatever_the_key_order():
    forwards = request_object(
        action="puppet.run", params={"noop": True, "tags": ["a"], "timeout_s": 60}
    )
    backwards = dict(reversed(list(forwards.items())))
    backwards["params"] = dict(reversed(list(forwards["params"].items())))

    assert list(backwards) != list(forwards)
    assert canonical(backwards) == canonical(forwards)
    assert canonical(forwards).startswith(b'{"action":"puppet.run","expires_at":')


def test_the_canonical_form_leaves_out_the_signature():
    obj = request_object()

    assert canonical({**obj, "signature": "c2lnbmF0dXJl"}) == canonical(obj)


def test_the_canonical_form_keeps_text_as_utf8_rather_than_escapes():
    assert "café".encode() in canonical(request_object(id="x", sender="control-plane", note="café"))


def test_signing_the_same_request_twice_gives_the_same_signature(control_plane):
    obj = request_object()

    first = json.loads(control_plane.send_raw(obj))
    second = json.loads(control_plane.send_raw(dict(reversed(list(obj.items())))))

    assert first["signature"] == second["signature"]


def test_a_message_reformatted_in_transit_still_verifies(control_plane, agent_keys):
    signed = json.loads(control_plane.send(control_plane.puppet_run(tags=["shop_api"])))
    reformatted = json.dumps(dict(reversed(list(signed.items()))), indent=2).encode()

    received = decode_and_verify(reformatted, keys=agent_keys, now=NOW)

    assert received.params["tags"] == ["shop_api"]
