"""`orbiter-agent keygen` makes a key pair once, and never overwrites one."""

import base64
import hashlib
import os
import stat

import pytest

from orbiter_agent.keys import fingerprint
from orbiter_agent.keys_cli import main
from orbiter_agent.protocol import KeyRing, load_private_key, parse_public_key


def test_keygen_writes_a_key_pair_the_other_side_can_trust(tmp_path, capsys):
    out = tmp_path / "keys"

    assert main(["keygen", "--out", str(out), "--name", "web-01.example.test"]) == 0

    key = load_private_key(out / "web-01.example.test.key")
    assert stat.S_IMODE(os.stat(out / "web-01.example.test.key").st_mode) == 0o600
    ring = KeyRing.from_directory(out)
    ring.get("web-01.example.test").verify(key.sign(b"hello"), b"hello")
    assert "web-01.example.test.pub" in capsys.readouterr().out


def test_keygen_refuses_to_overwrite_an_existing_key(tmp_path, capsys):
    assert main(["keygen", "--out", str(tmp_path), "--name", "web-01"]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    assert main(["keygen", "--out", str(tmp_path), "--name", "web-01"]) == 1

    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert "refusing to overwrite" in capsys.readouterr().err


def test_keygen_writes_nothing_when_only_the_public_key_exists(tmp_path):
    (tmp_path / "web-01.pub").write_text("an old key\n")

    assert main(["keygen", "--out", str(tmp_path), "--name", "web-01"]) == 1

    assert not (tmp_path / "web-01.key").exists()
    assert (tmp_path / "web-01.pub").read_text() == "an old key\n"


def test_keygen_names_the_key_for_this_host_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr("socket.getfqdn", lambda: "DB-02.Example.Test")

    assert main(["keygen", "--out", str(tmp_path)]) == 0

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "db-02.example.test.key",
        "db-02.example.test.pub",
    ]


def test_keygen_refuses_a_name_that_is_not_a_certname(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["keygen", "--out", str(tmp_path), "--name", "../etc/passwd"])

    assert exited.value.code == 2
    assert "--name must be a lower-case DNS-like name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_keygen_prints_the_fingerprint_an_admin_compares(tmp_path, capsys):
    assert main(["keygen", "--out", str(tmp_path), "--name", "web-01"]) == 0

    public_b64 = (tmp_path / "web-01.pub").read_text().strip()
    digest = hashlib.sha256(base64.b64decode(public_b64)).digest()
    expected = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    assert f"fingerprint: {expected}\n" in capsys.readouterr().out


def test_the_fingerprint_is_the_control_planes_format():
    """Known answer: SHA-256 of the raw 32-byte key, base64 without its "=" padding."""
    key = parse_public_key(b"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")

    # echo 11qY...URo= | base64 -d | openssl dgst -sha256 -binary | base64, "=" dropped
    assert fingerprint(key) == "SHA256:If4x36FUomFia/hUBG/SJxt77UtqvkWqWId+9H+XIbk"
