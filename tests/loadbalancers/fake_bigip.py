"""A fake F5 BIG-IP: the few iControl REST endpoints the f5 driver uses, over HTTPS on
127.0.0.1 with a certificate from a private CA made at start (so the driver's
certificate checks run for real).

Endpoints, shaped after F5's public documentation:
- POST /mgmt/shared/authn/login {"username", "password", "loginProviderName"} -> {"token":
  {"token", "name", "timeout", ...}}; later calls send X-F5-Auth-Token. HTTP basic
  authentication is accepted as well.
  ("Authentication with the F5 REST API",
  https://clouddocs.f5.com/api/icontrol-soap/Authentication_with_the_F5_REST_API.html;
  "iControl REST Authentication Token Management",
  https://community.f5.com/kb/technicalarticles/icontrol-rest-authentication-token-management/287462)
- GET and PATCH /mgmt/tm/ltm/pool/~Partition~Pool/members/~Partition~name:port; a GET
  shows `state` (up | down | user-down) and `session` (monitor-enabled | user-disabled) as
  a BIG-IP does, whatever was PATCHed ("iControl REST: Working with Pool Members",
  https://devcentral.f5.com/articles/icontrol-rest-working-with-pool-members;
  "APIRef_tm_ltm_pool", https://clouddocs.f5.com/api/icontrol-rest/APIRef_tm_ltm_pool.html)
- GET .../members/~Partition~name:port/stats -> {"entries": {<link>: {"nestedStats":
  {"entries": {"serverside.curConns": {"value": n}, "monitorStatus": {"description": ..},
  "status.availabilityState": {"description": ..}, ...}}}}} (no F5 reference page shows
  this shape; it follows recorded BIG-IP answers in public client code)
- Errors as {"code", "message", "errorStack": []}: 401 for a refused login or an
  expired/unknown token ("X-F5-Auth-Token has expired.", as quoted in
  https://github.com/f5devcentral/f5-cli/issues/8), 404 "01020036:3: The requested Pool
  Member (...) was not found.", 400 for a state or session it does not know ('invalid
  property value "state":"up"', from the pool-members article above).

Knobs for tests: `expire_tokens()`, `token_timeout`, `fail_next(status, count)`,
`open_connections(pool, n)` (clients through the virtual server, round robin over the
members taking new connections), `set_connections(member, n)`, `set_monitor(member,
status)`; and what happened: `logins`, `requests` [(method, path, "token" | "basic" |
"none")], `member(path)` (the member as a GET shows it). The 404 and "Authentication
failed." texts follow the BIG-IP's format; no page cited above quotes them.
"""

import base64
import datetime
import ipaddress
import json
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MEMBER_PATH = re.compile(r"^/mgmt/tm/ltm/pool/(?P<pool>~[^/]+)/members/(?P<member>~[^/]+)(?P<stats>/stats)?$")


class FakeBigIP:
    def __init__(self, *, username: str = "orbiter", password: str | None = None,
                 pools: dict[str, list[str]] | None = None):
        """`pools` maps a full pool path to its members' full paths, e.g.
        {"/Common/shop": ["/Common/web01:8080", "/Common/web02:8080"]}. The password is new
        for each fake unless given, so no token cached from another test matches."""
        self.username, self.password = username, password or secrets.token_urlsafe(12)
        self.token_timeout = 1200
        self.logins = 0
        self.requests: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._failures: list[int] = []
        self._next = 0  # round-robin position for open_connections
        pools = pools or {"/Common/shop": ["/Common/web01:8080", "/Common/web02:8080"]}
        self._pools = {
            pool: {member: {"disabled": False, "forced": False, "conns": 0, "monitor": "up"} for member in members}
            for pool, members in pools.items()
        }
        self._dir = Path(tempfile.mkdtemp(prefix="fake-bigip-"))
        self.ca_file = str(self._dir / "ca.pem")
        server_context = self._make_certificates()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.socket = server_context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-bigip",
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)

    # --- knobs ---------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` requests, whatever they are, with `status`."""
        with self._lock:
            self._failures.extend([status] * count)

    def open_connections(self, pool: str, count: int) -> dict[str, int]:
        """Clients open `count` connections through the pool's virtual server: round robin
        over the members that take new ones (enabled, not forced offline, monitor up). They
        stay open (counted in curConns) until the fake stops. Returns {member: how many}."""
        with self._lock:
            members = self._pools[pool]
            ready = [m for m, r in members.items() if not (r["disabled"] or r["forced"]) and r["monitor"] == "up"]
            sent = dict.fromkeys(members, 0)
            for i in range(count if ready else 0):
                sent[ready[(self._next + i) % len(ready)]] += 1
            self._next += count
            for member, opened in sent.items():
                members[member]["conns"] += opened
            return sent

    def set_connections(self, member: str, count: int) -> None:
        self._find(member)["conns"] = count

    def set_monitor(self, member: str, status: str) -> None:
        self._find(member)["monitor"] = status

    def member(self, member: str) -> dict:
        """The member as a GET shows it (full path, e.g. /Common/web01:8080)."""
        pool = next(p for p, members in self._pools.items() if member in members)
        return self._member_json(pool, member)

    def _find(self, member: str) -> dict:
        for members in self._pools.values():
            if member in members:
                return members[member]
        raise KeyError(member)

    # --- certificates ----------------------------------------------------------------------

    def _make_certificates(self) -> ssl.SSLContext:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-bigip test CA")])
        ca = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        Path(self.ca_file).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        cert_file, key_file = self._dir / "server.pem", self._dir / "server.key"
        cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context

    # --- the API ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict]:
        with self._lock:
            self.requests.append((method, path, _auth_kind(headers)))
            if self._failures:
                status = self._failures.pop(0)
                return status, _error(status, "The server is temporarily unable to answer (fake failure).")
            if method == "POST" and path == "/mgmt/shared/authn/login":
                return self._login(body)
            refused = self._authenticate(headers)
            if refused:
                return refused
            match = MEMBER_PATH.match(path)
            if not match:
                return 404, _error(404, f"URI path {path} not registered.  Please verify URI is supported and wait "
                                        "for /available suffix to be responsive.")
            return self._member_call(method, match, body)

    def _login(self, body: bytes) -> tuple[int, dict]:
        try:
            request = json.loads(body)
        except ValueError:
            return 400, _error(400, "Found invalid JSON body in the request.")
        if (request.get("username"), request.get("password")) != (self.username, self.password) \
                or request.get("loginProviderName") != "tmos":
            return 401, _error(401, "Authentication failed.")
        self.logins += 1
        token = secrets.token_hex(13).upper()
        self._tokens[token] = time.monotonic() + self.token_timeout
        expiry = int((time.time() + self.token_timeout) * 1_000_000)
        return 200, {
            "username": self.username, "loginProviderName": "tmos",
            "token": {"token": token, "name": token, "userName": self.username, "authProviderName": "tmos",
                      "timeout": self.token_timeout, "expirationMicros": expiry,
                      "kind": "shared:authz:tokens:authtokenitemstate",
                      "selfLink": f"https://localhost/mgmt/shared/authz/tokens/{token}"},
            "generation": 0, "lastUpdateMicros": 0,
        }

    def _authenticate(self, headers) -> tuple[int, dict] | None:
        token = headers.get("X-F5-Auth-Token")
        if token is not None:
            if token not in self._tokens:
                return 401, _error(401, "X-F5-Auth-Token does not exist.")
            if time.monotonic() >= self._tokens[token]:
                return 401, _error(401, "X-F5-Auth-Token has expired.")
            return None
        authorization = headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            pair = base64.b64decode(authorization[6:]).decode("utf-8", "replace")
            if pair == f"{self.username}:{self.password}":
                return None
            return 401, _error(401, "Authorization failed: user=" + pair.partition(":")[0])
        return 401, _error(401, "Authorization failed: no user authentication header or token detected.")

    def _member_call(self, method: str, match: re.Match, body: bytes) -> tuple[int, dict]:
        pool, member = match["pool"].replace("~", "/"), match["member"].replace("~", "/")
        if pool not in self._pools:
            return 404, _error(404, f"01020036:3: The requested Pool ({pool}) was not found.")
        if member not in self._pools[pool]:
            address, _, port = member.rpartition(":")
            return 404, _error(404, f"01020036:3: The requested Pool Member ({pool} {address} {port}) was not found.")
        if match["stats"]:
            if method != "GET":
                return 405, _error(405, "Method not allowed.")
            return 200, self._stats_json(pool, member)
        if method == "PATCH":
            try:
                change = json.loads(body)
            except ValueError:
                return 400, _error(400, "Found invalid JSON body in the request.")
            record = self._pools[pool][member]
            if "state" in change:
                if change["state"] not in ("user-up", "user-down"):
                    return 400, _error(400, f'invalid property value "state":"{change["state"]}"')
                record["forced"] = change["state"] == "user-down"
            if "session" in change:
                if change["session"] not in ("user-enabled", "user-disabled"):
                    return 400, _error(400, f'invalid property value "session":"{change["session"]}"')
                record["disabled"] = change["session"] == "user-disabled"
            return 200, self._member_json(pool, member)
        if method == "GET":
            return 200, self._member_json(pool, member)
        return 405, _error(405, "Method not allowed.")

    def _member_json(self, pool: str, member: str) -> dict:
        record = self._pools[pool][member]
        partition, _, name = member[1:].partition("/")
        link = f"https://localhost/mgmt/tm/ltm/pool/{pool.replace('/', '~')}/members/{member.replace('/', '~')}"
        return {
            "kind": "tm:ltm:pool:members:membersstate", "name": name, "partition": partition, "fullPath": member,
            "selfLink": f"{link}?ver=17.1.0", "address": name.rpartition(":")[0], "connectionLimit": 0,
            "monitor": "default", "ratio": 1, "priorityGroup": 0,
            "state": "user-down" if record["forced"] else ("up" if record["monitor"] == "up" else "down"),
            "session": "user-disabled" if record["disabled"] else "monitor-enabled",
        }

    def _stats_json(self, pool: str, member: str) -> dict:
        record = self._pools[pool][member]
        link = f"https://localhost/mgmt/tm/ltm/pool/{pool.replace('/', '~')}/members/{member.replace('/', '~')}"
        available = record["monitor"] == "up" and not record["forced"]
        return {
            "kind": "tm:ltm:pool:members:membersstats", "selfLink": f"{link}/stats?ver=17.1.0",
            "entries": {f"{link}/{member.replace('/', '~')}/stats": {"nestedStats": {"entries": {
                "addr": {"description": member.rpartition(":")[0].rpartition("/")[2]},
                "monitorStatus": {"description": "forced-down" if record["forced"] else record["monitor"]},
                "serverside.curConns": {"value": record["conns"]},
                "sessionStatus": {"description": "user-disabled" if record["disabled"] else "enabled"},
                "status.availabilityState": {"description": "available" if available else "offline"},
                "status.enabledState": {"description": "disabled" if record["disabled"] else "enabled"},
                "tmName": {"description": member},
            }}}},
        }


def _error(status: int, message: str) -> dict:
    return {"code": status, "message": message, "errorStack": [], "apiError": 3}


def _auth_kind(headers) -> str:
    if headers.get("X-F5-Auth-Token") is not None:
        return "token"
    if headers.get("Authorization", "").startswith("Basic "):
        return "basic"
    return "none"


def _handler(bigip: FakeBigIP):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = bigip.handle(self.command, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format, *args):  # keep test output quiet
            pass

    return Handler
