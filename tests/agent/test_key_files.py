"""Private keys stay private; public keys are named for the sender they speak for."""

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orbiter_agent.protocol import (
    Code,
    KeyFileError,
    KeyRing,
    ProtocolError,
    generate_keypair,
    load_private_key,
    parse_public_key,
    write_private_key,
)


@pytest.fixture
def key_path(tmp_path):
    path = tmp_path / "web-01.key"
    private_pem, _ = generate_keypair()
    write_private_key(path, private_pem)
    return path


def test_a_written_private_key_is_readable_by_its_owner_only(key_path):
    old_umask = os.umask(0)
    try:
        other = key_path.with_name("other.key")
        write_private_key(other, generate_keypair()[0])
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o600


def test_a_private_key_loads_and_matches_its_public_key(tmp_path):
    private_pem, public_b64 = generate_keypair()
    write_private_key(tmp_path / "a.key", private_pem)

    key = load_private_key(tmp_path / "a.key")

    parse_public_key(public_b64.encode()).verify(key.sign(b"hello"), b"hello")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644, 0o660])
def test_it_refuses_a_private_key_others_can_access(key_path, mode):
    os.chmod(key_path, mode)

    with pytest.raises(KeyFileError) as refused:
        load_private_key(key_path)

    assert refused.value.code == Code.INSECURE_KEY_FILE
    assert f"mode {mode:04o}" in str(refused.value)
    assert f"chmod 600 {key_path}" in str(refused.value)


def test_it_refuses_a_private_key_file_that_is_not_an_ed25519_key(tmp_path):
    path = tmp_path / "ec.key"
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private_key(path, ec_pem)

    with pytest.raises(KeyFileError) as refused:
        load_private_key(path)
    assert refused.value.code == Code.BAD_KEY


def test_writing_a_private_key_never_replaces_an_existing_one(key_path):
    before = key_path.read_bytes()

    with pytest.raises(FileExistsError):
        write_private_key(key_path, generate_keypair()[0])
    assert key_path.read_bytes() == before


def test_a_key_ring_loads_base64_and_pem_public_keys_named_for_their_sender(tmp_path):
    _, agent_b64 = generate_keypair()
    pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "web-01.example.test.pub").write_text(agent_b64 + "\n")
    (tmp_path / "control-plane.pub").write_bytes(pem)
    (tmp_path / "control-plane.key").write_text("not a public key, and not read")
    (tmp_path / "README").write_text("keys go here")

    ring = KeyRing.from_directory(tmp_path)

    assert list(ring) == ["control-plane", "web-01.example.test"]
    assert "web-01.example.test" in ring and ring.get("db-01") is None


@pytest.mark.parametrize("filename", ["Web-01.pub", "web_01.pub", ".pub", "-web.pub"])
def test_a_key_ring_refuses_a_key_file_not_named_for_a_sender(tmp_path, filename):
    (tmp_path / filename).write_text(generate_keypair()[1])

    with pytest.raises(KeyFileError) as refused:
        KeyRing.from_directory(tmp_path)
    assert refused.value.code == Code.BAD_KEY
    assert filename in str(refused.value)


@pytest.mark.parametrize(
    "content", [b"not base64!", b"c2hvcnQ=", b"-----BEGIN PUBLIC KEY-----\nxx\n"]
)
def test_a_key_ring_refuses_a_file_that_is_not_a_public_key(tmp_path, content):
    (tmp_path / "web-01.pub").write_bytes(content)

    with pytest.raises(KeyFileError) as refused:
        KeyRing.from_directory(tmp_path)
    assert refused.value.code == Code.BAD_KEY


def test_a_key_ring_refuses_a_name_that_is_not_a_sender():
    with pytest.raises(ProtocolError):
        KeyRing({"Not A Host": Ed25519PrivateKey.generate().public_key()})
