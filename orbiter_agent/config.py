"""The agent's configuration: one TOML file, checked strictly when it is loaded.

    certname = "web-01.example.test"
    brokers = ["stomp://mq1.example.test:61613", "stomp://mq2.example.test:61613"]
    username = "orbiter-agent"
    password_file = "/etc/orbiter-agent/stomp.password"     # or: password = "..."
    private_key = "/etc/orbiter-agent/keys/web-01.example.test.key"
    control_plane_public_key = "/etc/orbiter-agent/keys/control-plane.pub"
    state_dir = "/var/lib/orbiter-agent"
    heartbeat_ms = 10000
    packages = ["shop-api"]                                  # versions reported by `facts`

    [tls]                                                    # optional; all three paths
    ca_file = "/etc/orbiter-agent/tls/ca.pem"
    cert_file = "/etc/orbiter-agent/tls/agent.pem"
    key_file = "/etc/orbiter-agent/tls/agent.key"

    [puppet]                                                 # optional; defaults shown
    command = ["puppet", "agent", "--onetime", "--no-daemonize", "--detailed-exitcodes",
               "--logdest", "console", "--no-usecacheonfailure"]
    lock_timeout_s = 300
    publicdir = "/var/cache/puppet/public"
    vardir = "/var/cache/puppet"
    # Server mode, instead of `command` (docs/agents.md, "Puppet through a server"):
    # server = "puppet.example.test"                         # runs puppet agent --server ...
    # server_port = 8140                                     # optional: --serverport
    # confdir = "/etc/puppet"                                # optional: --confdir
    # ssldir = "/etc/puppet/ssl"                             # optional: --ssldir

Relative paths are taken from the file's directory. With [tls], every broker connection
uses TLS and checks the broker's certificate against ca_file. Every refusal is a
`ConfigError` naming the key and saying what is allowed; the key files are read at load
time, so a bad key stops the agent before it connects.

The files that hold trust are checked before they are read: this file,
`control_plane_public_key`, `password_file` and the [tls] files, each with its directory,
and the directory of `private_key`, may be written by their owner only (root or the
agent's user); the private key itself may not be read by anyone else either. The state
directory may not be writable by others (the replay store is what stops a request from
running twice); it and the password file should not be readable by them either
(`file_warnings`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orbiter_agent.keys import (
    KeyFileError,
    KeyRing,
    check_owner_writable_only,
    load_private_key,
    others_may_read,
    parse_public_key,
)
from orbiter_agent.schema import CONTROL_PLANE, ProtocolError, check_sender, is_int

# `puppet agent`, logging to stdout (without --logdest it logs to syslog only, and the run's
# reply would say nothing of what failed), failing when the server gives no catalog: by
# default Puppet applies the one cached by its last run (an old version) and exits 0, and
# the rollout would count the host as done. Server mode adds --server and friends.
DEFAULT_PUPPET_COMMAND = ("puppet", "agent", "--onetime", "--no-daemonize", "--detailed-exitcodes",
                          "--logdest", "console", "--no-usecacheonfailure")
SERVER_MODE_COMMAND = DEFAULT_PUPPET_COMMAND
# A host name (RFC 1123 labels) or an IPv4 address: never an option (no leading '-').
SERVER_RE = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
REPLY_QUEUE = "/queue/orbiter.replies"
BROADCAST_TOPIC = "/topic/orbiter.all"

PACKAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,127}")

_TOP = {
    "certname",
    "brokers",
    "username",
    "password",
    "password_file",
    "tls",
    "private_key",
    "control_plane_public_key",
    "state_dir",
    "heartbeat_ms",
    "packages",
    "puppet",
}
_TLS = {"ca_file", "cert_file", "key_file"}
_PUPPET = {"command", "lock_timeout_s", "publicdir", "vardir", "server", "server_port", "confdir", "ssldir"}


class ConfigError(Exception):
    """The configuration file cannot be used; the message names the key at fault."""


@dataclass(frozen=True)
class TlsConfig:
    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class PuppetConfig:
    """`command` is the argument list the agent runs (then --noop, --tags=...): as given,
    or in server mode (`server` set) made from server, server_port, confdir and ssldir."""

    command: tuple[str, ...] = DEFAULT_PUPPET_COMMAND
    lock_timeout_s: float = 300.0
    publicdir: Path = Path("/var/cache/puppet/public")
    vardir: Path = Path("/var/cache/puppet")


@dataclass(frozen=True)
class AgentConfig:
    certname: str
    brokers: tuple[tuple[str, int], ...]
    private_key: Path
    control_plane_public_key: Path
    state_dir: Path
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_file: Path | None = None
    tls: TlsConfig | None = None
    heartbeat_ms: int = 10000
    packages: tuple[str, ...] = ()
    puppet: PuppetConfig = PuppetConfig()

    @property
    def request_queue(self) -> str:
        return f"/queue/orbiter.agent.{self.certname}"

    @property
    def reply_queue(self) -> str:
        return REPLY_QUEUE

    @property
    def broadcast_topic(self) -> str:
        return BROADCAST_TOPIC

    def signing_key(self) -> Ed25519PrivateKey:
        try:
            key = load_private_key(self.private_key)  # refused if anyone else may read it
        except ProtocolError as exc:
            raise ConfigError(f"private_key: {exc.message}") from exc
        _trusted(self.private_key, "private_key")  # its owner, and the keys directory
        return key

    def key_ring(self) -> KeyRing:
        """The control plane's key: the only signature this agent believes."""
        path = self.control_plane_public_key
        _trusted(path, "control_plane_public_key")
        try:
            key = parse_public_key(path.read_bytes(), source=str(path))
        except OSError as exc:
            raise ConfigError(
                f"control_plane_public_key: cannot read {path}: {exc.strerror}"
            ) from exc
        except ProtocolError as exc:
            raise ConfigError(f"control_plane_public_key: {exc.message}") from exc
        return KeyRing({CONTROL_PLANE: key})

    def file_warnings(self) -> dict[str, str]:
        """Refuse a state directory others may write to; a warning (by key) for it and for
        the password file when others may read them."""
        _trusted(self.state_dir, "state_dir", directory_too=False)
        warnings = {}
        if (mode := others_may_read(self.state_dir)) is not None:
            warnings["state_dir"] = (
                f"state_dir {self.state_dir} has mode {mode:04o}: other users can read the "
                f"stored replies and facts (run: chmod 700 {self.state_dir})"
            )
        path = self.password_file
        if path is not None and (mode := others_may_read(path)) is not None:
            warnings["password_file"] = (
                f"password_file {path} has mode {mode:04o}: other users can read the broker "
                f"password (run: chmod 600 {path})"
            )
        return warnings


def load_config(path: str | Path) -> AgentConfig:
    """Read and check `path`; raise ConfigError with the first problem found."""
    _trusted(Path(path), "config file")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    config = parse_config(data, base=Path(path).parent)
    config.signing_key()
    config.key_ring()
    return config


def parse_config(data: dict[str, Any], *, base: Path = Path(".")) -> AgentConfig:
    """Check a parsed TOML document; relative paths are taken from `base`."""
    _only(data, _TOP, "")
    try:
        certname = check_sender(_get(data, "certname", str), field="certname")
    except ProtocolError as exc:
        raise ConfigError(exc.message) from exc
    password = _opt(data, "password", str)
    password_file = _opt(data, "password_file", str)
    if password is not None and password_file is not None:
        raise ConfigError("password and password_file: give one of them, not both")
    password_path = _path(base, password_file) if password_file is not None else None
    if password_path is not None:
        password = _read_password(password_path)
    puppet = _opt(data, "puppet", dict) or {}
    tls = _opt(data, "tls", dict)
    return AgentConfig(
        certname=certname,
        brokers=_brokers(data.get("brokers")),
        username=_opt(data, "username", str),
        password=password,
        password_file=password_path,
        tls=_tls(tls, base) if tls is not None else None,
        private_key=_path(base, _get(data, "private_key", str)),
        control_plane_public_key=_path(base, _get(data, "control_plane_public_key", str)),
        state_dir=_path(base, _get(data, "state_dir", str)),
        heartbeat_ms=_heartbeat(data.get("heartbeat_ms", 10000)),
        packages=_packages(data.get("packages", [])),
        puppet=_puppet(puppet, base),
    )


def _only(table: dict[str, Any], allowed: set[str], prefix: str) -> None:
    for key in sorted(table.keys() - allowed):
        raise ConfigError(f"{prefix}{key} is not a setting; allowed: {', '.join(sorted(allowed))}")


def _get(table: dict[str, Any], key: str, kind: type, prefix: str = "") -> Any:
    if key not in table:
        raise ConfigError(f"{prefix}{key} is required")
    return _opt(table, key, kind, prefix)


def _opt(table: dict[str, Any], key: str, kind: type, prefix: str = "") -> Any:
    value = table.get(key)
    if value is None or isinstance(value, kind):
        if kind is str and value == "":
            raise ConfigError(f"{prefix}{key} must not be empty")
        return value
    what = f"a table ([{prefix}{key}])" if kind is dict else "a string"
    raise ConfigError(f"{prefix}{key} must be {what}, got {type(value).__name__}")


def _path(base: Path, value: str) -> Path:
    return base / Path(value).expanduser()


def _strings(value: Any, name: str, *, allow_empty: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise ConfigError(f"{name} must not be empty")
    return value


def _packages(value: Any) -> tuple[str, ...]:
    names = _strings(value, "packages", allow_empty=True)
    for i, name in enumerate(names):
        if not PACKAGE_RE.fullmatch(name):
            raise ConfigError(
                f"packages[{i}] must be a package name (A-Z a-z 0-9 + . _ -), got {name!r}"
            )
    return tuple(names)


def _brokers(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("brokers must be a non-empty list of stomp://host:port (failover order)")
    return tuple(_broker(url, i) for i, url in enumerate(value))


def _broker(url: Any, i: int) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        extra = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username
        if parts.scheme == "stomp" and host and port and not extra:
            return host, port
    except (AttributeError, TypeError, ValueError):  # not a string, or a bad port
        pass
    raise ConfigError(f"brokers[{i}] must look like stomp://host:61613, got {url!r}")


def _tls(table: dict[str, Any], base: Path) -> TlsConfig:
    _only(table, _TLS, "tls.")
    paths = {k: _path(base, _get(table, k, str, "tls.")) for k in sorted(_TLS)}
    for key, path in paths.items():
        if not path.is_file():
            raise ConfigError(f"tls.{key}: no such file {path}")
        _trusted(path, f"tls.{key}")
    return TlsConfig(**paths)


def _puppet(table: dict[str, Any], base: Path) -> PuppetConfig:
    _only(table, _PUPPET, "puppet.")
    if _opt(table, "server", str, "puppet.") is not None:
        if "command" in table:
            raise ConfigError("puppet.command and puppet.server: give one of them, not both "
                              "(with server, the agent runs puppet agent --server ...)")
        command = _server_command(table, base)
    else:
        for key in sorted(table.keys() & {"server_port", "confdir", "ssldir"}):
            raise ConfigError(f"puppet.{key} needs puppet.server (server mode)")
        command = _strings(table.get("command", list(DEFAULT_PUPPET_COMMAND)), "puppet.command",
                           allow_empty=False)
    dirs = {
        k: _opt(table, k, str, "puppet.") or str(getattr(PuppetConfig, k))
        for k in ("publicdir", "vardir")
    }
    return PuppetConfig(
        command=tuple(command),
        lock_timeout_s=_seconds(table.get("lock_timeout_s", 300), "puppet.lock_timeout_s"),
        publicdir=_path(base, dirs["publicdir"]),
        vardir=_path(base, dirs["vardir"]),
    )


def _server_command(table: dict[str, Any], base: Path) -> list[str]:
    """puppet agent --onetime ... --server H [--serverport P] [--confdir C] [--ssldir S]."""
    server = table["server"]
    if not SERVER_RE.fullmatch(server):
        raise ConfigError(f"puppet.server must be a host name or IPv4 address, got {server!r}")
    command = [*SERVER_MODE_COMMAND, "--server", server]
    port = table.get("server_port")
    if port is not None:
        if not is_int(port) or not 1 <= port <= 65535:
            raise ConfigError(f"puppet.server_port must be a port number from 1 to 65535, got {port!r}")
        command += ["--serverport", str(port)]  # Puppet 7's name for the deprecated --masterport
    for key in ("confdir", "ssldir"):
        if (value := _opt(table, key, str, "puppet.")) is not None:
            command += [f"--{key}", str(_path(base, value))]  # absolute: never taken for an option
    return command


def _heartbeat(value: Any) -> int:
    if not is_int(value) or not (value == 0 or 1000 <= value <= 600_000):
        raise ConfigError(
            f"heartbeat_ms must be 0 (off) or an integer from 1000 to 600000, got {value!r}"
        )
    return value


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86400:
        raise ConfigError(f"{name} must be a number of seconds from 0 to 86400, got {value!r}")
    return float(value)


def _trusted(path: Path, key: str, *, directory_too: bool = True) -> None:
    try:
        check_owner_writable_only(path, directory_too=directory_too)
    except KeyFileError as exc:
        raise ConfigError(f"{key}: {exc.message}") from exc


def _read_password(path: Path) -> str:
    _trusted(path, "password_file")
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"password_file: cannot read {path}: {exc.strerror}") from exc
    if not text:
        raise ConfigError(f"password_file: {path} is empty")
    return text
