"""`orbiter-agent enroll` offers the agent's public key to Orbiter's /agents/enroll and
prints the answer and the key's fingerprint; tested against a small local HTTP server."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orbiter_agent.keys_cli import main
from orbiter_agent.protocol import generate_keypair, write_private_key, write_public_key

CERTNAME = "web-01.example.test"


class Orbiter(ThreadingHTTPServer):
    """Answers POST /agents/enroll with `answer` (status, JSON) and keeps what it got."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer: tuple[int, Any] = (200, {"status": "trusted"})
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Orbiter

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.command, self.path, dict(self.headers), body))
        status, answer = self.server.answer
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        if status in (301, 302, 307):
            self.send_header("Location", "https://elsewhere.example.test/agents/enroll")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def orbiter() -> Iterator[Orbiter]:
    server = Orbiter()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """An agent's config; its private key is what enroll offers (as a public key)."""
    private_pem, _ = generate_keypair()
    write_private_key(tmp_path / "agent.key", private_pem)
    write_public_key(tmp_path / "control-plane.pub", generate_keypair()[1])
    path = tmp_path / "agent.toml"
    path.write_text(
        f'certname = "{CERTNAME}"\nbrokers = ["stomp://mq1.example.test:61613"]\n'
        'private_key = "agent.key"\ncontrol_plane_public_key = "control-plane.pub"\n'
        'state_dir = "state"\n'
    )
    return path


def public_key_of(config: Path) -> str:
    key = serialization.load_pem_private_key((config.parent / "agent.key").read_bytes(), None)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def expected_fingerprint(public_b64: str) -> str:
    """The control plane's formula (orbiter.catalog.agents.fingerprint), restated."""
    digest = hashlib.sha256(base64.b64decode(public_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def enroll(config: Path, url: str, *extra: str) -> int:
    return main(["enroll", "--config", str(config), "--url", url, *extra])


def test_it_posts_the_certname_public_key_and_token_and_prints_the_fingerprint(
    orbiter, config, capsys
):
    assert enroll(config, orbiter.url + "/", "--token", "t0ken") == 0

    [(method, path, headers, body)] = orbiter.received
    assert (method, path) == ("POST", "/agents/enroll")
    assert headers["Content-Type"] == "application/json"
    public_b64 = public_key_of(config)
    assert json.loads(body) == {"certname": CERTNAME, "public_key": public_b64, "token": "t0ken"}
    out = capsys.readouterr().out
    assert "status: trusted" in out
    assert f"fingerprint: {expected_fingerprint(public_b64)}" in out


def test_without_a_token_the_key_waits_for_an_admin(orbiter, config, capsys):
    orbiter.answer = (200, {"status": "pending"})

    assert enroll(config, orbiter.url) == 0

    assert json.loads(orbiter.received[0][3])["token"] == ""
    out = capsys.readouterr().out
    fingerprint = expected_fingerprint(public_key_of(config))
    assert "status: pending" in out
    assert f"orbiter agents approve {CERTNAME} --fingerprint {fingerprint}" in out


def test_it_reads_the_token_from_a_file_under_a_base_path(orbiter, config, tmp_path):
    (tmp_path / "token").write_text("from-a-file\n")

    assert enroll(config, orbiter.url + "/orbiter", "--token-file", str(tmp_path / "token")) == 0

    [(_, path, _, body)] = orbiter.received
    assert path == "/orbiter/agents/enroll" and json.loads(body)["token"] == "from-a-file"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "enrollment token for web-01.example.test is unknown, used or expired"),
        (404, "no host 'web-01.example.test'; add it to Orbiter first"),
        (400, "public_key: not an Ed25519 public key"),
    ],
)
def test_it_exits_2_with_the_servers_message_when_refused(orbiter, config, capsys, status, message):
    orbiter.answer = (status, {"message": message})

    assert enroll(config, orbiter.url, "--token", "old") == 2

    err = capsys.readouterr().err
    assert f"HTTP {status}" in err and message in err


def test_it_exits_2_on_an_answer_that_is_not_an_enrollment(orbiter, config, capsys):
    orbiter.answer = (200, b"<html>a login page</html>")

    assert enroll(config, orbiter.url) == 2

    assert "unexpected answer" in capsys.readouterr().err


def test_it_exits_2_when_the_server_recorded_another_key(orbiter, config, capsys):
    orbiter.answer = (200, {"status": "trusted", "fingerprint": "SHA256:somethingelse"})

    assert enroll(config, orbiter.url) == 2

    assert "SHA256:somethingelse" in capsys.readouterr().err


def test_it_does_not_follow_a_redirect(orbiter, config, capsys):
    orbiter.answer = (302, {})

    assert enroll(config, orbiter.url) == 2

    assert len(orbiter.received) == 1  # not re-sent as a GET
    assert "redirects (HTTP 302) to https://elsewhere.example.test" in capsys.readouterr().err


def test_it_exits_2_when_orbiter_cannot_be_reached(config, capsys):
    server = Orbiter()
    url = server.url
    server.server_close()  # nothing listens there any more

    assert enroll(config, url) == 2

    assert "cannot reach" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--url", "ftp://orbiter.example.test"], "--url must look like"),
        (["--url", "http://orbiter.example.test", "--ca-file", "ca.pem"], "verifies https only"),
        (["--url", "http://orbiter.example.test", "--token-file", "/nonexistent"], "cannot read"),
    ],
)
def test_it_refuses_bad_arguments_before_sending_anything(config, capsys, args, error):
    assert main(["enroll", "--config", str(config), *args]) == 2

    assert error in capsys.readouterr().err


def test_it_refuses_a_token_and_a_token_file_together(config, capsys):
    with pytest.raises(SystemExit) as exited:
        enroll(config, "http://x.example.test", "--token", "a", "--token-file", "b")

    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_it_exits_2_naming_a_bad_config(tmp_path, capsys):
    (tmp_path / "agent.toml").write_text('certname = "Web_01"\n')

    assert enroll(tmp_path / "agent.toml", "http://x.example.test") == 2

    assert "certname must be" in capsys.readouterr().err


def test_https_is_verified_against_the_given_ca_file(orbiter, config, tmp_path, capsys):
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    orbiter.socket = context.wrap_socket(orbiter.socket, server_side=True)

    assert enroll(config, orbiter.url) == 2  # the system CAs do not know this certificate
    assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err
    assert enroll(config, orbiter.url, "--ca-file", str(cert)) == 0
    assert len(orbiter.received) == 1


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orbiter test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "orbiter.pem", directory / "orbiter.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
