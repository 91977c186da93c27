"""TLS is verified: a server whose certificate no known CA signed is refused (exit 5) unless
ORBITER_CA_FILE names the CA. The live server is put behind a small TLS-terminating relay
with a freshly made self-signed certificate for 127.0.0.1."""

import datetime
import ipaddress
import socket
import socketserver
import ssl
import threading
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = pytest.mark.usefixtures("tasks")  # the engine is not needed: nothing runs


def self_signed(directory) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orbiter test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_url(live_server, tmp_path):
    """https://127.0.0.1:PORT relaying to the live server; yields (url, CA file)."""
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    backend = urlsplit(live_server.url)

    class Relay(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                client = context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate: that is the point of one test
            with client, socket.create_connection((backend.hostname, backend.port), timeout=30) as upstream:
                pump = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
                pump.start()
                _copy(client, upstream)
                pump.join(timeout=30)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Relay)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert_file
    server.shutdown()
    server.server_close()


def _copy(source, target) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def test_an_unknown_certificate_authority_is_refused_with_exit_5(orbiter, tokens, tls_url):
    url, _ = tls_url

    result = orbiter("history", token=tokens["alice"], url=url)

    assert result.code == 5
    assert result.err.startswith(f"error: TLS verification of {url} failed (certificate verify failed")
    assert "ORBITER_CA_FILE" in result.err


def test_orbiter_ca_file_names_the_authority_to_trust(orbiter, tokens, tls_url):
    url, ca_file = tls_url

    result = orbiter("history", token=tokens["alice"], url=url, extra_env={"ORBITER_CA_FILE": ca_file})

    assert result.code == 0, result.err
    assert result.out == "no deployments found\n"
