"""F5 BIG-IP pool members over iControl REST (the management interface, HTTPS, JSON).

Calls, for member `web01:8080` of pool `shop` in partition `Common`:
  disable     PATCH /mgmt/tm/ltm/pool/~Common~shop/members/~Common~web01:8080
              {"session": "user-disabled"}: no new connections, open ones finish (drain)
  force_down  the same with {"state": "user-down", "session": "user-disabled"} ("forced offline")
  enable      the same with {"session": "user-enabled", "state": "user-up"}
  state       GET that member (its `state` and `session`) and GET .../stats
              (`serverside.curConns`, `monitorStatus`, `status.availabilityState`)

Authentication (`auth`): "token" (default) logs in with POST /mgmt/shared/authn/login
{"username", "password", "loginProviderName": "tmos"} and sends the token in
X-F5-Auth-Token; tokens are kept per process (a user may hold only 100) until shortly
before their `timeout`, and a 401 makes the driver log in again once and retry. "basic"
sends HTTP basic authentication on every call (local BIG-IP users only).

Options: `url` (https://bigip.example[:port]), `username`, `password` or `password_file`,
`auth` ("token" | "basic"), `partition` ("Common"), `pool` (default the Orbiter pool's
name), `timeout_s` (10), `ca_file` (PEM bundle trusted instead of the system's),
`verify` (true; false only when set explicitly, and logged as a warning), `members`
(Orbiter member name -> BIG-IP member "name:port"; default: the name as given). A pool
or member given as a full path (/Part/folder/name) keeps its own partition.

Errors: connection failures, timeouts and HTTP 5xx are transient; a refused login, 401
after a fresh login, 403, 404 (no such pool or member), other 4xx and an untrusted
certificate are permanent. Each message carries F5's own `message`, never the password
or the token. Environment proxies are ignored: the management address is dialled directly.

F5 documentation read for this driver:
- "Authentication with the F5 REST API" (basic auth; token login body and response):
  https://clouddocs.f5.com/api/icontrol-soap/Authentication_with_the_F5_REST_API.html
- "iControl REST Authentication Token Management" (default timeout 1,200 s, at most 100
  tokens per user): https://community.f5.com/kb/technicalarticles/icontrol-rest-authentication-token-management/287462
- "Demystifying iControl REST Part 6: Token-Based Authentication" (loginProviderName tmos):
  https://www.devcentral.f5.com/kb/technicalarticles/demystifying-icontrol-rest-part-6-token-based-authentication/286793
- "iControl REST: Working with Pool Members" (state/session for enabled, disabled,
  forced offline; the `{"code", "message", "errorStack"}` error body):
  https://devcentral.f5.com/articles/icontrol-rest-working-with-pool-members
- "APIRef_tm_ltm_pool" (resource URIs /mgmt/tm/ltm/pool/~resource id, PATCH):
  https://clouddocs.f5.com/api/icontrol-rest/APIRef_tm_ltm_pool.html
- "REST API Endpoints" in the F5 Python SDK guide (~Partition~name URI segments):
  https://pythonhosted.org/f5-sdk/userguide/endpoints.html
- The 401 body for an expired token ("X-F5-Auth-Token has expired."), quoted in F5's
  f5-cli issue "Handle Auth Token Expiry": https://github.com/f5devcentral/f5-cli/issues/8
The shape of the stats answer (entries -> nestedStats -> entries -> {"value"|"description"})
is not on those pages; it is taken from recorded BIG-IP answers in public client code.
"""

import base64
import hashlib
import json
import logging
import os
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from orbiter.common.errors import DriverError, ValidationError
from orbiter.loadbalancers.base import DOWN, DRAIN, UP, LoadBalancer, MemberState

log = logging.getLogger("orbiter.loadbalancers.f5")

LOGIN_PATH = "/mgmt/shared/authn/login"
DEFAULT_TOKEN_TIMEOUT_S = 1200  # BIG-IP's default when the login answer does not say
TOKEN_MARGIN_S = 60  # log in again this long before a token runs out, not on its last second
OPTIONS = {"url", "username", "password", "password_file", "auth", "partition", "pool",
           "timeout_s", "ca_file", "verify", "members"}
_NAME = re.compile(r"^/?[A-Za-z0-9_.\-/]+$")
_MEMBER = re.compile(r"^/?[A-Za-z0-9_.\-/]+:(\d{1,5})$")

# (url, username, password digest) -> (token, monotonic time after which not to use it).
# Process-wide because a driver lives for one engine step, and a login per step would
# soon exhaust the 100 tokens a user may hold.
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_login_locks: dict[tuple[str, str, str], threading.Lock] = {}  # one login at a time per key
_tokens_lock = threading.Lock()  # guards the two dicts, never held across I/O
_warned_unverified: set[str] = set()


class F5LoadBalancer(LoadBalancer):
    name = "f5"
    quick = False  # every call is a network round trip to the BIG-IP

    def __init__(self, pool_name: str, options: dict):
        super().__init__(pool_name, options)
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise _invalid(unknown[0], f"is not an option of the f5 driver; allowed: {', '.join(sorted(OPTIONS))}")
        self.url = _url(options.get("url"))
        self.username = _text(options, "username")
        self._password = _password(options)
        self.auth = options.get("auth", "token")
        if self.auth not in ("token", "basic"):
            raise _invalid("auth", f"{self.auth!r} is not allowed; give 'token' or 'basic'")
        self.partition = options.get("partition", "Common")
        if not isinstance(self.partition, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.partition):
            raise _invalid("partition", f"{self.partition!r} is not a partition name (letters, digits, '_', '.', '-')")
        pool = options.get("pool", pool_name)
        if not isinstance(pool, str) or not _NAME.match(pool):
            raise _invalid("pool", f"{pool!r} is not a BIG-IP pool name")
        self.pool = pool
        self.timeout_s = _timeout(options.get("timeout_s", 10))
        self.members = _members(options.get("members", {}))
        self._context = _tls_context(self.url, options)
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self._context)
        )
        digest = hashlib.sha256(self._password.encode()).hexdigest()
        self._token_key = (self.url, self.username, digest)

    # --- the LoadBalancer interface ---------------------------------------------------------

    def disable(self, member: str) -> None:
        self._patch(member, {"session": "user-disabled"}, what="disable")

    def enable(self, member: str) -> None:
        self._patch(member, {"session": "user-enabled", "state": "user-up"}, what="enable")

    def force_down(self, member: str) -> None:
        """Forced offline, the BIG-IP's stronger form of disable (not used by the engine)."""
        self._patch(member, {"state": "user-down", "session": "user-disabled"}, what="force down")

    def state(self, member: str) -> MemberState:
        path = self._member_path(member)
        config = self._call("GET", path, what=f"read pool member {member}")
        stats = _flatten_stats(self._call("GET", f"{path}/stats", what=f"read stats of pool member {member}"))
        if config.get("state") == "user-down":
            admin = DOWN
        elif config.get("session") == "user-disabled":
            admin = DRAIN
        else:
            admin = UP
        try:
            connections = int(stats.get("serverside.curConns", 0))
        except (TypeError, ValueError):
            connections = 0
        return MemberState(admin=admin, connections=connections, health=_health(stats))

    # --- requests --------------------------------------------------------------------------

    def _patch(self, member: str, body: dict, *, what: str) -> None:
        self._call("PATCH", self._member_path(member), body, what=f"{what} pool member {member}")

    def _member_path(self, member: str) -> str:
        target = self.members.get(member, member)
        if not isinstance(target, str) or not _MEMBER.match(target):
            raise DriverError(
                f"f5 pool {self.pool}: member {member!r} is not a BIG-IP member name 'name:port'; "
                "map it in the pool's options.members", permanent=True)
        return f"/mgmt/tm/ltm/pool/{_ref(self.partition, self.pool)}/members/{_ref(self.partition, target)}"

    def _call(self, method: str, path: str, body: dict | None = None, *, what: str) -> dict:
        """One request; with token auth, a 401 (token expired or revoked) means one fresh
        login and one retry, and a second 401 is final."""
        headers = self._auth_headers()
        status, payload = self._send(method, path, body, headers, what=what)
        if status == 401 and self.auth == "token":
            self._forget_token(headers["X-F5-Auth-Token"])
            status, payload = self._send(method, path, body, self._auth_headers(), what=what)
        if 200 <= status < 300:
            return payload
        raise self._error(what, status, payload)

    def _auth_headers(self) -> dict:
        if self.auth == "basic":
            pair = base64.b64encode(f"{self.username}:{self._password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {"X-F5-Auth-Token": self._token()}

    def _token(self) -> str:
        with _tokens_lock:
            login_lock = _login_locks.setdefault(self._token_key, threading.Lock())
        with login_lock:
            with _tokens_lock:
                cached = _tokens.get(self._token_key)
            if cached and time.monotonic() < cached[1]:
                return cached[0]
            body = {"username": self.username, "password": self._password, "loginProviderName": "tmos"}
            status, payload = self._send("POST", LOGIN_PATH, body, {}, what=f"log in as {self.username}")
            if status != 200:
                raise self._error(f"log in as {self.username}", status, payload, after_login=True)
            token = (payload.get("token") or {}).get("token")
            if not isinstance(token, str) or not token:
                raise DriverError(f"f5 {self.url}: log in as {self.username}: the answer holds no token")
            timeout = (payload.get("token") or {}).get("timeout", DEFAULT_TOKEN_TIMEOUT_S)
            if not isinstance(timeout, int | float) or timeout <= 0:
                timeout = DEFAULT_TOKEN_TIMEOUT_S
            with _tokens_lock:
                _tokens[self._token_key] = (token, time.monotonic() + max(timeout - TOKEN_MARGIN_S, timeout / 2))
            log.info("f5 %s: logged in as %s (token valid %ss)", self.url, self.username, timeout)
            return token

    def _forget_token(self, token: str) -> None:
        """Drop `token` from the cache, unless another thread has already replaced it."""
        with _tokens_lock:
            if _tokens.get(self._token_key, ("",))[0] == token:
                del _tokens[self._token_key]

    def _send(self, method: str, path: str, body: dict | None, headers: dict, *, what: str) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Accept": "application/json", "Content-Type": "application/json", **headers},
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except urllib.error.URLError as error:
            if isinstance(error.reason, ssl.SSLCertVerificationError):
                raise DriverError(
                    f"f5 {self.url}: {what}: the BIG-IP's certificate is not trusted "
                    f"({error.reason.verify_message}); set options.ca_file to the CA that signed it",
                    permanent=True) from error
            raise DriverError(f"f5 {self.url}: {what}: {error.reason}") from error
        except (OSError, ValueError) as error:  # timeouts, resets, TLS failures mid-stream
            raise DriverError(f"f5 {self.url}: {what}: {type(error).__name__}: {error}") from error
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            if 200 <= status < 300:
                raise DriverError(f"f5 {self.url}: {what}: the answer (status {status}) is not a JSON object")
            payload = {}
        return status, payload

    def _error(self, what: str, status: int, payload: dict, *, after_login: bool = False) -> DriverError:
        message = str(payload.get("message") or "").replace(self._password, "***") or "no message"
        detail = {
            401: "the BIG-IP refused the user name or password" if after_login or self.auth == "basic"
            else "not authorized even after a fresh login",
            403: f"user {self.username} may not do this",
            404: "no such pool or member",
        }.get(status)
        said = f"BIG-IP said {status} {message!r}"
        transient = status >= 500 or status in (408, 429)
        return DriverError(f"f5 {self.url}: {what}: " + (f"{detail}; {said}" if detail else said),
                           permanent=not transient)


# --- option parsing ----------------------------------------------------------------------------


def _invalid(option: str, problem: str) -> ValidationError:
    return ValidationError(f"f5 load balancer option {option!r}: {problem}", field=f"options.{option}")


def _url(value) -> str:
    parsed = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme != "https" or not parsed.hostname or parsed.path not in ("", "/") \
            or parsed.query or parsed.fragment or parsed.username:
        raise _invalid("url", f"{value!r} is not allowed; give the management address as https://host[:port]")
    try:
        parsed.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise _invalid("url", f"{value!r} has a bad port") from None
    return f"https://{parsed.netloc}"


def _text(options: dict, option: str) -> str:
    value = options.get(option)
    if not isinstance(value, str) or not value:
        raise _invalid(option, "is required (a non-empty string)")
    return value


def _password(options: dict) -> str:
    if "password" in options and "password_file" in options:
        raise _invalid("password", "give either password or password_file, not both")
    if "password_file" in options:
        path = options["password_file"]
        try:
            with open(path, encoding="utf-8") as handle:
                password = handle.read().rstrip("\r\n")
        except (OSError, TypeError, ValueError) as error:
            raise _invalid("password_file", f"cannot read {path!r} ({type(error).__name__})") from None
        if not password:
            raise _invalid("password_file", f"{path!r} is empty")
        return password
    if not isinstance(options.get("password"), str) or not options["password"]:
        raise _invalid("password", "is required (or password_file)")
    return options["password"]


def _timeout(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise _invalid("timeout_s", f"{value!r} is not allowed; give a number of seconds above 0, at most 300")
    return float(value)


def _members(value) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _invalid("members", "must map each Orbiter member name to the BIG-IP member 'name:port'")
    for member, target in value.items():
        if not isinstance(target, str) or not _MEMBER.match(target) or int(_MEMBER.match(target).group(1)) > 65535:
            raise _invalid("members", f"{member!r} -> {target!r}: give the BIG-IP member as 'name:port'")
    return dict(value)


def _tls_context(url: str, options: dict) -> ssl.SSLContext:
    verify = options.get("verify", True)
    if not isinstance(verify, bool):
        raise _invalid("verify", f"{verify!r} is not allowed; give true or false")
    ca_file = options.get("ca_file")
    if not verify:
        if ca_file:
            raise _invalid("verify", "is false, so ca_file would be ignored; drop one of them")
        if url not in _warned_unverified:
            _warned_unverified.add(url)
            log.warning("f5 %s: certificate verification is OFF (options.verify=false); "
                        "a machine in the middle could take the credentials", url)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file is not None and (not isinstance(ca_file, str) or not os.path.isfile(ca_file)):
        raise _invalid("ca_file", f"{ca_file!r} is not a readable file")
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise _invalid("ca_file", f"{ca_file!r} holds no usable PEM certificate ({error})") from None


# --- answers -------------------------------------------------------------------------------------


def _ref(partition: str, name: str) -> str:
    """A pool or member as a URI segment: ~Partition~name, or a full path with / as ~."""
    full = name.replace("/", "~") if name.startswith("/") else f"~{partition}~{name}"
    return urllib.parse.quote(full, safe="~:.-_")


def _flatten_stats(payload: dict) -> dict:
    """Stats come as {"entries": {<selfLink>: {"nestedStats": {"entries": {name: {"value"
    | "description": x}}}}}}; return {name: x} for the first nested block."""
    for entry in (payload.get("entries") or {}).values():
        nested = (entry or {}).get("nestedStats", {}).get("entries")
        if isinstance(nested, dict):
            return {name: field.get("value", field.get("description"))
                    for name, field in nested.items() if isinstance(field, dict)}
    return {}


def _health(stats: dict) -> str:
    monitor = stats.get("monitorStatus")
    if monitor == "up":
        return UP
    if monitor in ("down", "address-down"):
        return DOWN
    availability = stats.get("status.availabilityState")
    if availability == "available":
        return UP
    if availability == "offline":
        return DOWN
    return "unknown"
