"""Broker passwords, derived from one secret the broker and the control plane share.

The broker's plugin (lab/activemq/OrbiterSecurityPlugin.java) derives the same value, so it
holds no per-host state: user X's password is base64url(HMAC-SHA256(secret, "orbiter-stomp:" + X))
without padding. An agent's user is its certname; the control plane's is CONTROL_PLANE_USER,
which no certname can be (certnames have no underscore). Standard library only: settings.py
imports it.
"""

import base64
import hashlib
import hmac
from pathlib import Path

CONTROL_PLANE_USER = "orbiter_control_plane"
MIN_SECRET_BYTES = 32  # the plugin refuses to start with less


def read_secret(path: str | Path) -> bytes:
    """The current secret: the file's first line (later lines are earlier secrets the broker
    still accepts during a rotation; passwords are only ever derived from the current one)."""
    secret = (Path(path).read_bytes().strip().splitlines() or [b""])[0].strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"{path}: the broker secret must hold at least {MIN_SECRET_BYTES} bytes "
                         "(generate one with: openssl rand -base64 48)")
    return secret


def broker_password(secret: bytes, user: str) -> str:
    digest = hmac.new(secret, f"orbiter-stomp:{user}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
