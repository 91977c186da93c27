"""Hostile replies: what a host, a stolen key or anyone with access to the replies queue
might send, each with the refusal the listener must answer with. Shared by the suite on
the in-memory bus (tests/bus/test_hostile_replies.py) and the one on the real stack
(tests/integration/test_listener_hostile.py)."""

import base64
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from orbiter_agent.protocol import canonical


@dataclass
class Sender:
    """Who attacks: an enrolled host's certname and key, and the request it was sent."""

    certname: str
    key: object  # Ed25519PrivateKey
    request_id: str  # a puppet.run the engine waits for from this host

    def obj(self, kind="reply", action="puppet.run", result=None, **fields) -> dict:
        now = time.time()
        obj = {"version": 1, "id": str(uuid.uuid4()), "kind": kind, "action": action, "sender": self.certname,
               "issued_at": now, "expires_at": now + 600}
        if kind == "request":
            obj |= {"target": self.certname, "params": {}}
        else:
            obj["result"] = {"ok": True} if result is None else result
        if kind == "reply":
            obj["in_reply_to"] = self.request_id
        return {**obj, **fields}

    def signed(self, obj: dict) -> bytes:
        """`obj` signed with the host's real key: only its content is hostile."""
        return _dumps({**obj, "signature": base64.b64encode(self.key.sign(canonical(obj))).decode()})

    def run(self, **result) -> bytes:
        return self.signed(self.obj(result={"ok": True, "kind": "changed", **result}))


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def random_signature() -> str:
    return base64.b64encode(os.urandom(64)).decode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_unsigned(s: Sender) -> bytes:
    """The finding: a random signature, a real certname, JSON ~990 deep (killed the listener
    in canonical encoding, before the signature was even checked)."""
    head = json.dumps(s.obj())[:-1]
    return f'{head}, "junk": {nested(990)}, "signature": "{random_signature()}"}}'.encode()


def deep_signed(s: Sender, where: str) -> bytes:
    obj = s.obj(result={"ok": True})
    value = json.loads(nested(200))
    if where == "resources":
        obj["result"]["resources"] = {"changed": value}
    else:
        obj["result"]["x-future-field"] = value  # unknown keys are bounded too
    return s.signed(obj)


def too_long(s: Sender) -> bytes:
    return s.run(message="x" * 5000)


@dataclass
class Case:
    name: str
    build: Callable[[Sender], bytes]
    code: str
    dead_letter: bool  # came under an enrolled certname: kept for an operator


CASES = [
    Case("deep JSON, random signature, real certname", deep_unsigned, "too_deep", False),
    Case("deep resources, validly signed", lambda s: deep_signed(s, "resources"), "too_deep", False),
    Case("deep unknown field, validly signed", lambda s: deep_signed(s, "unknown"), "too_deep", False),
    Case("logs is a number", lambda s: s.run(logs=7), "bad_result", True),
    Case("a log entry is a string", lambda s: s.run(logs=["boom"]), "bad_result", True),
    Case("NUL in a package version", lambda s: s.signed(s.obj(
        kind="report", action="facts", result={"ok": True, "packages": {"shop-api": "1.0\x00"}})), "bad_result", True),
    Case("NUL in a package name", lambda s: s.signed(s.obj(
        kind="report", action="facts", result={"ok": True, "packages": {"shop\x00api": "1.0"}})), "bad_result", True),
    Case("NUL in the output tail", lambda s: s.run(output_tail="done\x00"), "bad_result", True),
    Case("NUL in the error", lambda s: s.signed(s.obj(result={"ok": False, "error": "x\x00"})), "bad_result", True),
    Case("negative resource count", lambda s: s.run(resources={"changed": -1}), "bad_result", True),
    Case("boolean resource count", lambda s: s.run(resources={"changed": True}), "bad_result", True),
    Case("fractional resource count", lambda s: s.run(resources={"changed": 1.5}), "bad_result", True),
    Case("message of 5,000 characters", too_long, "bad_result", True),
    Case("output tail of 5,000 characters", lambda s: s.run(output_tail="y" * 5000), "bad_result", True),
    Case("exit code is a string", lambda s: s.run(exit_code="2"), "bad_result", True),
    Case("packages is a list", lambda s: s.signed(s.obj(
        kind="report", action="facts", result={"ok": True, "packages": ["shop-api"]})), "bad_result", True),
    Case("501 packages", lambda s: s.signed(s.obj(kind="report", action="facts", result={
        "ok": True, "packages": {f"p{i}": "1" for i in range(501)}})), "bad_result", True),
    Case("last_run is a string", lambda s: s.signed(s.obj(
        kind="report", action="facts", result={"ok": True, "last_run": "yesterday"})), "bad_result", True),
    Case("post-run facts with a NUL", lambda s: s.run(facts={"packages": {"a": "\x00"}}), "bad_result", True),
    Case("result without ok", lambda s: s.signed(s.obj(result={"kind": "changed"})), "bad_field", True),
    Case("a request signed by an agent", lambda s: s.signed(s.obj(kind="request", action="facts")), "bad_field", True),
    Case("an extra envelope field", lambda s: s.signed(s.obj(extra=1)), "extra_field", True),
    Case("expired", lambda s: s.signed(s.obj(issued_at=time.time() - 1200, expires_at=time.time() - 600)),
         "expired", True),
    Case("signed by another key", lambda s: _dumps({**s.obj(), "signature": random_signature()}),
         "bad_signature", True),
    Case("unsigned", lambda s: _dumps(s.obj()), "unsigned", True),
    Case("unknown sender", lambda s: _dumps({**s.obj(), "sender": "nobody.example.test",
                                             "signature": random_signature()}), "unknown_sender", False),
    Case("sender not a certname", lambda s: _dumps({**s.obj(), "sender": "../../etc",
                                                    "signature": random_signature()}), "bad_field", False),
    Case("not JSON", lambda s: b"\xff\xfe{", "not_json", False),
    Case("NaN", lambda s: s.signed(s.obj())[:-1] + b', "n": NaN}', "not_json", False),
    Case("duplicate keys", lambda s: s.signed(s.obj())[:-1] + b', "sender": "x"}', "not_json", False),
    Case("a JSON array", lambda s: b"[1, 2]", "not_json", False),
    Case("70 KiB", lambda s: _dumps({**s.obj(), "pad": "z" * 70_000}), "too_large", False),
    Case("lone surrogate", lambda s: json.dumps({**s.obj(result={"ok": True, "message": "\ud800"}),
                                                 "signature": random_signature()}).encode(), "bad_signature", True),
]
