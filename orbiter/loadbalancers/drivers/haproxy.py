"""HAProxy, driven through its runtime API (the stats socket), one command per connection.

Pool options:
  socket     path of a UNIX stats socket (`stats socket PATH mode 600 level admin`), or
  address    "host:port" of a TCP one (`stats socket ipv4@127.0.0.1:9999 level admin`)
  backend    the backend that holds the pool's servers (required)
  timeout_s  bound on each command: connect, send and the whole answer (default 2)
  servers    {member: server name} where the two differ (default: the member's name)

`disable` drains (`set server B/S state drain`: no new connections, open ones finish),
`force_down` puts a server in maintenance (`state maint`: no traffic at all, no health
checks), `enable` makes it ready again. `state` reads `show servers state B` (the admin
state bits) and `show stat` (current sessions and the health-check status); the batch
forms read both once for the whole backend.
"""

import csv
import io
import os
import re
import socket
import time

from orbiter.common.errors import DriverError, ValidationError
from orbiter.loadbalancers.base import DOWN, DRAIN, UP, LoadBalancer, MemberState

OPTIONS = ("address", "backend", "servers", "socket", "timeout_s")
DEFAULT_TIMEOUT_S = 2.0
MAX_TIMEOUT_S = 30.0

# HAProxy's own rule for proxy and server names; it also keeps a name from smuggling a second
# command (";", spaces, newlines) into the runtime API.
NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")

# srv_admin_state bits (include/haproxy/server-t.h): forced, inherited (tracked server),
# config (`disabled`), resolution and hostname maintenance; forced and inherited drain.
ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
ADMIN_DRAIN = 0x08 | 0x10

# Answers naming something that does not exist, or a socket without `level admin`: asking
# again will not help.
NO_BACKEND = ("No such backend", "Can't find backend", "No such proxy")
NO_SERVER = "No such server"
NOT_ADMIN = "Permission denied"


class HAProxyLoadBalancer(LoadBalancer):
    name = "haproxy"
    # True for a UNIX socket (local, every call bounded by timeout_s); an `address` may cross a
    # network, so such a pool is not quick.
    quick = True

    def __init__(self, pool_name: str, options: dict):
        super().__init__(pool_name, options)
        self.backend, self.endpoint, self.timeout_s, self.servers = _parse_options(
            pool_name, options
        )
        self.quick = isinstance(self.endpoint, str)

    # --- one member --------------------------------------------------------------------------

    def disable(self, member: str) -> None:
        self._set_state(member, "drain")

    def force_down(self, member: str) -> None:
        """Take member out at once: no traffic, open connections included, and no health checks."""
        self._set_state(member, "maint")

    def enable(self, member: str) -> None:
        self._set_state(member, "ready")

    def state(self, member: str) -> MemberState:
        answer = self._states([member])[member]
        if isinstance(answer, DriverError):
            raise answer
        return answer

    # --- batches: one `set` per member, then one read of the backend -------------------------

    def drain_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        return self._batch(members, "drain")

    def restore_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        return self._batch(members, "ready")

    def states_many(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        return self._states(members)

    def _batch(self, members: list[str], new_state: str) -> dict[str, MemberState | DriverError]:
        errors: dict[str, DriverError] = {}
        for member in members:
            try:
                self._set_state(member, new_state)
            except _BackendError as error:  # unreachable, or no such backend: same for the rest
                return {m: errors.get(m, error) for m in members}
            except DriverError as error:
                errors[member] = error
        states = self._states([m for m in members if m not in errors])
        return {m: errors[m] if m in errors else states[m] for m in members}

    # --- the runtime API ---------------------------------------------------------------------

    def _set_state(self, member: str, new_state: str) -> None:
        server = self._server(member)
        answer = self._command(f"set server {self.backend}/{server} state {new_state}")
        if answer.strip():  # success is an empty answer
            raise self._refusal(answer, member, server)

    def _states(self, members: list[str]) -> dict[str, MemberState | DriverError]:
        """Each member's state from one `show servers state` and one `show stat` of the backend."""
        answers: dict[str, MemberState | DriverError] = {}
        servers = {}
        for member in members:
            try:
                servers[member] = self._server(member)
            except DriverError as error:
                answers[member] = error
        if not servers:
            return answers
        try:
            admin = self._admin_states()
            stats = self._stats()
        except DriverError as error:
            return {m: answers.get(m, error) for m in members}
        for member, server in servers.items():
            if server not in admin or server not in stats:
                answers[member] = self._no_server(member, server)
                continue
            sessions, status = stats[server]
            answers[member] = MemberState(
                admin=_admin(admin[server]), connections=sessions, health=_health(status)
            )
        return answers

    def _admin_states(self) -> dict[str, int]:
        """server -> srv_admin_state, from `show servers state B` (a version line, a `# ` header
        naming the columns, then one space-separated row per server)."""
        answer = self._command(f"show servers state {self.backend}")
        lines = answer.splitlines()
        if len(lines) < 2 or not lines[1].startswith("# "):
            raise self._refusal(answer)
        columns = lines[1][2:].split()
        name, admin = columns.index("srv_name"), columns.index("srv_admin_state")
        rows = [line.split() for line in lines[2:] if line.strip()]
        return {row[name]: int(row[admin]) for row in rows}

    def _stats(self) -> dict[str, tuple[int, str]]:
        """server -> (current sessions, status) from the backend's server rows of `show stat`."""
        answer = self._command(f"show stat {self.backend} 4 -1")  # 4: servers only
        if not answer.startswith("# "):
            raise self._refusal(answer)
        rows = csv.DictReader(io.StringIO(answer[2:]))
        return {
            row["svname"]: (int(row["scur"] or 0), row["status"])
            for row in rows
            if row.get("pxname") == self.backend
        }

    def _command(self, command: str) -> str:
        """Send one command and read the whole answer (HAProxy closes the connection after it),
        within timeout_s. Not reaching HAProxy is transient: it may be restarting."""
        where = self._where()
        deadline = time.monotonic() + self.timeout_s
        try:
            with self._connect() as conn:
                conn.sendall(command.encode() + b"\n")
                chunks = []
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    conn.settimeout(left)
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except TimeoutError:
            raise _BackendError(
                f"haproxy {where} did not answer `{command}` within {self.timeout_s:g}s",
                permanent=False,
            ) from None
        except FileNotFoundError:
            raise _BackendError(
                f"haproxy {where} does not exist (is HAProxy running?)", permanent=False
            ) from None
        except ConnectionRefusedError:
            raise _BackendError(
                f"haproxy {where} refused the connection (is HAProxy running?)", permanent=False
            ) from None
        except PermissionError:
            raise _BackendError(
                f"haproxy {where}: permission denied; Orbiter's user must be "
                "able to open it (see the socket's `mode`/`user`)",
                permanent=True,
            ) from None
        except OSError as error:
            raise _BackendError(
                f"haproxy {where}: {error.strerror or error}", permanent=False
            ) from None
        return b"".join(chunks).decode(errors="replace")

    def _connect(self) -> socket.socket:
        if isinstance(self.endpoint, str):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.settimeout(self.timeout_s)
                conn.connect(self.endpoint)
            except BaseException:
                conn.close()
                raise
            return conn
        return socket.create_connection(self.endpoint, timeout=self.timeout_s)

    def _where(self) -> str:
        if isinstance(self.endpoint, str):
            return f"stats socket {self.endpoint}"
        return "stats socket at {}:{}".format(*self.endpoint)

    # --- names and refusals ------------------------------------------------------------------

    def _server(self, member: str) -> str:
        server = self.servers.get(member, member)
        if not isinstance(server, str) or not NAME.match(server):
            raise DriverError(
                f"member {member!r}: {server!r} is not a valid HAProxy server name "
                "(letters, digits, '_', '.', ':', '-'); map it in option `servers`",
                permanent=True,
            )
        return server

    def _no_server(self, member: str, server: str) -> DriverError:
        mapped = "" if server == member else f" (member {member!r})"
        return DriverError(
            f"haproxy backend {self.backend!r} has no server {server!r}{mapped}", permanent=True
        )

    def _refusal(self, answer: str, member: str = "", server: str = "") -> DriverError:
        text = answer.strip().splitlines()[0] if answer.strip() else "(empty answer)"
        if any(text.startswith(prefix) for prefix in NO_BACKEND):
            about = f" (asked about member {member!r})" if member else ""
            return _BackendError(f"haproxy has no backend {self.backend!r}{about}", permanent=True)
        if text.startswith(NO_SERVER) and member:
            return self._no_server(member, server)
        if text.startswith(NOT_ADMIN):
            return _BackendError(
                f"haproxy {self._where()} is not at `level admin`: {text}", permanent=True
            )
        about = f" for member {member!r}" if member else ""
        return DriverError(f"haproxy refused{about}: {text}", permanent=True)


class _BackendError(DriverError):
    """An error about the whole backend (unreachable, missing): a batch stops at the first."""


def _admin(bits: int) -> str:
    if bits & ADMIN_MAINT:
        return DOWN
    if bits & ADMIN_DRAIN:
        return DRAIN
    return UP


def _health(status: str) -> str:
    """`show stat` status -> health. "UP 1/2" is up and failing checks (still in service);
    "DOWN 1/2" is down and passing them; DRAIN and NOLB are up but taking no new traffic.
    MAINT suspends health checks and "no check" never had any: unknown."""
    word = status.split(" ", 1)[0]
    if word in ("UP", "DRAIN", "NOLB"):
        return UP
    if word == "DOWN":
        return DOWN
    return "unknown"


def _parse_options(pool: str, options) -> tuple[str, str | tuple[str, int], float, dict[str, str]]:
    """Check the pool's options; a bad one is a ValidationError naming it (`field`
    options.<name>), as for every driver: the pool's settings are wrong, not HAProxy."""

    def bad(option: str, problem: str) -> ValidationError:
        return ValidationError(
            f"haproxy pool {pool!r}: option `{option}` {problem}", field=f"options.{option}"
        )

    if not isinstance(options, dict):
        raise ValidationError(
            f"haproxy pool {pool!r}: options must be an object with {', '.join(OPTIONS)}",
            field="options",
        )
    if unknown := sorted(set(options) - set(OPTIONS)):
        raise ValidationError(
            f"haproxy pool {pool!r}: unknown option(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(OPTIONS)}",
            field=f"options.{unknown[0]}",
        )

    if ("socket" in options) == ("address" in options):
        raise ValidationError(
            f"haproxy pool {pool!r}: give exactly one of option `socket` (a UNIX "
            'socket path) or `address` ("host:port")',
            field="options.socket",
        )
    endpoint: str | tuple[str, int]
    if "socket" in options:
        path = options["socket"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise bad("socket", "must be the absolute path of HAProxy's stats socket")
        if len(os.fsencode(path)) > 107:  # sun_path holds 108 bytes
            raise bad("socket", "is too long for a UNIX socket path (107 bytes at most)")
        endpoint = path
    else:
        address = options["address"]
        host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
        host = host.strip("[]")  # "[::1]:9999"
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise bad("address", f'must be "host:port" (e.g. "127.0.0.1:9999"), not {address!r}')
        endpoint = (host, int(port))

    backend = options.get("backend")
    if not isinstance(backend, str) or not NAME.match(backend):
        raise bad(
            "backend",
            "is required: the name of the HAProxy backend holding the pool's "
            "servers (letters, digits, '_', '.', ':', '-')",
        )

    timeout_s = options.get("timeout_s", DEFAULT_TIMEOUT_S)
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not (0 < timeout_s <= MAX_TIMEOUT_S)
    ):
        raise bad("timeout_s", f"must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}")

    servers = options.get("servers", {})
    if not isinstance(servers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and NAME.match(v) for k, v in servers.items()
    ):
        raise bad(
            "servers",
            "must map member names to HAProxy server names (letters, digits, '_', '.', ':', '-')",
        )
    return backend, endpoint, float(timeout_s), dict(servers)
