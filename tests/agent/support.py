"""The cast of the agent protocol tests: the control plane, an agent, and an outsider."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from orbiter_agent.protocol import Envelope, canonical, encode, make_request, sign

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
AGENT = "web-01.example.test"


@dataclass
class Party:
    name: str
    private_key: Ed25519PrivateKey

    @classmethod
    def new(cls, name: str) -> Party:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def send(self, envelope: Envelope) -> bytes:
        return encode(sign(envelope, self.private_key))

    def puppet_run(
        self, *, now: float = NOW, ttl_s: float = 300, target: str = AGENT, **params: Any
    ) -> Envelope:
        return make_request(
            "puppet.run",
            {"noop": False, **params},
            target=target,
            sender=self.name,
            ttl_s=ttl_s,
            now=now,
        )

    def send_raw(self, obj: dict[str, Any]) -> bytes:
        """Sign any object, well-formed or not: for messages only a broken sender would make."""
        signature = self.private_key.sign(canonical(obj))
        return json.dumps({**obj, "signature": base64.b64encode(signature).decode()}).encode()


def request_object(**overrides: Any) -> dict[str, Any]:
    """A valid request from the control plane, as a plain object, before signing."""
    return {
        "version": 1,
        "id": "req-1",
        "kind": "request",
        "action": "ping",
        "params": {},
        "target": AGENT,
        "sender": "control-plane",
        "issued_at": NOW,
        "expires_at": NOW + 300,
        **overrides,
    }
