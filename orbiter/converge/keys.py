"""The control plane's signing key (Ed25519): created once, kept in a 0600 file."""

from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from orbiter_agent.keys import generate_keypair, load_private_key, public_key_b64, write_private_key


@lru_cache(maxsize=1)
def signing_key() -> Ed25519PrivateKey:
    return load_private_key(settings.ORBITER_SIGNING_KEY_FILE)


def signing_key_create(path: str | None = None) -> str:
    """Write a new key pair's private half to `path` (refuses to overwrite); return the public key."""
    target = Path(path or settings.ORBITER_SIGNING_KEY_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    private_pem, public = generate_keypair()
    write_private_key(target, private_pem)
    signing_key.cache_clear()
    return public


def signing_public_key() -> str:
    return public_key_b64(signing_key().public_key())
