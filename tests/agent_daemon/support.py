"""The cast of the agent daemon tests: a real agent process on its own host directories, and
the control plane, played over STOMP with the protocol's own functions."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import stomp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orbiter_agent.protocol import (
    Envelope,
    KeyRing,
    canonical,
    decode_and_verify,
    encode,
    generate_keypair,
    make_request,
    parse_public_key,
    sign,
    write_private_key,
    write_public_key,
)

ROOT = Path(__file__).resolve().parents[2]
REPLIES = "/queue/orbiter.replies"

MANIFESTS = {
    "init.pp": """class testapp (String $root, String $version) {
  file { "${root}/version": ensure => file, content => "${version}\\n" }
}
""",
    "broken.pp": """class testapp::broken (String $root) {
  file { "${root}/missing-dir/version": ensure => file, content => "1\\n" }
}
""",
    "slow.pp": """class testapp::slow (Integer $seconds) {
  exec { 'slow-step': command => "/bin/sleep ${seconds}", timeout => 600 }
}
""",
}


# A manifest whose Puppet run lasts until the test creates `go` in the host's root.
WAIT_FOR_GO = (
    "exec {{ 'wait-for-go': timeout => 600, "
    "command => \"/bin/sh -c 'while [ ! -e {root}/go ]; do sleep 0.1; done'\" }}"
)


def write_module(modulepath: Path) -> Path:
    """`testapp`: a version file; `testapp::broken` fails; `testapp::slow` sleeps."""
    manifests = modulepath / "testapp" / "manifests"
    manifests.mkdir(parents=True)
    for name, text in MANIFESTS.items():
        (manifests / name).write_text(text)
    return modulepath


def wait_until(condition, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
    return value


class Host:
    """One simulated host: its agent config, keys, Puppet dirs and run counter."""

    def __init__(self, base: Path, brokers: list[str], modulepath: Path, manifest: str, *,
                 credentials: Callable[[str], tuple[str, str]], **puppet):
        """credentials(certname) -> (user, password): the host's own broker login
        (lab.services.ActiveMQ.credentials), written to its password_file."""
        self.certname = f"h{uuid.uuid4().hex[:10]}.example.test"
        self.dir = base / self.certname
        self.root = self.dir / "root"  # what the manifest manages
        self.root.mkdir(parents=True)
        self.runs_file = self.dir / "puppet-runs"  # one line per Puppet start
        keys = self.dir / "keys"
        keys.mkdir()
        private_pem, public_b64 = generate_keypair()
        write_private_key(keys / "agent.key", private_pem)
        self.public_key = public_b64
        self.control_plane_key = Ed25519PrivateKey.generate()
        public = self.control_plane_key.public_key().public_bytes_raw()
        write_public_key(keys / "control-plane.pub", base64.b64encode(public).decode())
        pdirs = {
            k: self.dir / "puppet" / k for k in ("conf", "var", "code", "log", "run", "public")
        }
        command = ["/bin/sh", "-c", 'echo run >> "$0"; exec "$@"', str(self.runs_file),
                   "puppet", "apply", "--certname", self.certname,
                   *[a for k, p in pdirs.items() for a in (f"--{k}dir", str(p))],
                   "--modulepath", str(modulepath), "--detailed-exitcodes", "--color=false",
                   "-e", manifest.format(root=self.root)]  # fmt: skip
        user, password = credentials(self.certname)
        password_file = self.dir / "stomp.password"
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")
        self.config = self.dir / "agent.toml"
        self.config.write_text(
            "\n".join([
                f'certname = "{self.certname}"',
                f"brokers = {json.dumps(brokers)}",
                f"username = {json.dumps(user)}",
                'password_file = "stomp.password"',
                'private_key = "keys/agent.key"',
                'control_plane_public_key = "keys/control-plane.pub"',
                'state_dir = "state"',
                "heartbeat_ms = 2000",
                'packages = ["puppet-agent", "no-such-package"]',
                "[puppet]",
                f"command = {json.dumps(command)}",
                f'publicdir = "{pdirs["public"]}"',
                f'vardir = "{pdirs["var"]}"',
                *(f"{k} = {json.dumps(v)}" for k, v in puppet.items()),
            ]) + "\n"
        )  # fmt: skip
        self.log = self.dir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def keys(self) -> KeyRing:
        """What the control plane believes: this agent's key, under its certname."""
        return KeyRing({self.certname: parse_public_key(self.public_key.encode())})

    @property
    def puppet_runs(self) -> int:
        return len(self.runs_file.read_text().splitlines()) if self.runs_file.exists() else 0

    def start(self) -> None:
        """Start the agent (`python -m orbiter_agent run`) and wait until it is subscribed."""
        connected = self.count("connected")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orbiter_agent", "run", "--config", str(self.config)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        wait_until(lambda: self.count("connected") > connected or self.proc.poll() is not None,
                   20, "the agent to connect")  # fmt: skip
        assert self.proc.poll() is None, self.log.read_text()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill_leftover_puppet(self) -> None:
        """A run whose agent was killed goes on alone (on purpose); end it with the test."""
        pid_file = self.dir / "state" / "puppet.pid"
        if pid_file.exists():
            try:
                os.killpg(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    def non_json_lines(self) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if not line.startswith("{")]

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = []
        for line in self.log.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue  # not ours (e.g. a Python warning)
        return [e for e in lines if name is None or e.get("event") == name]

    def count(self, name: str) -> int:
        return len(self.events(name))


class _Collector(stomp.ConnectionListener):
    def __init__(self, on_message) -> None:
        self.on_message = on_message


class ControlPlane:
    """Sends signed requests to agents and collects every reply from /queue/orbiter.replies."""

    def __init__(self, stomp_url: str, credentials: tuple[str, str]) -> None:
        """credentials: the control plane's broker login (lab.services.ActiveMQ.control_plane)."""
        host, port = stomp_url.removeprefix("stomp://").rsplit(":", 1)
        self.conn = stomp.Connection12([(host, int(port))], auto_decode=False)
        self.replies: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self.conn.set_listener("control-plane", _Collector(self._on_message))
        self.conn.connect(*credentials, wait=True)
        self.conn.subscribe(REPLIES, id="replies", ack="auto")

    def _on_message(self, frame: Any) -> None:
        with self._lock:
            self.replies.append((dict(frame.headers), frame.body))

    @staticmethod
    def request(action: str, params: dict[str, Any] | None = None, *, target: Host | str,
                now: float | None = None, ttl_s: float = 300) -> Envelope:  # fmt: skip
        """A request for `target`: a host (its certname), another certname, or "*"."""
        now = time.time() if now is None else now
        target = target.certname if isinstance(target, Host) else target
        return make_request(
            action, params or {}, target=target, sender="control-plane", ttl_s=ttl_s, now=now
        )

    def signed(self, host: Host, request: Envelope) -> bytes:
        return encode(sign(request, host.control_plane_key))

    @staticmethod
    def signed_raw(host: Host, obj: dict[str, Any]) -> bytes:
        """Any object signed with the key `host` trusts: what make_request would refuse."""
        signature = host.control_plane_key.sign(canonical(obj))
        return json.dumps({**obj, "signature": base64.b64encode(signature).decode()}).encode()

    def send(self, host: Host, body: bytes, destination: str | None = None) -> None:
        destination = destination or f"/queue/orbiter.agent.{host.certname}"
        self.conn.send(destination, body, headers={"persistent": "true"})

    def replies_to(self, host: Host, request: Envelope, count: int = 1, timeout: float = 60):
        """The replies to `request`, each verified against the agent's key, once `count` came."""

        def found() -> list[tuple[dict[str, str], bytes]]:
            with self._lock:
                mine = [(h, b) for h, b in self.replies
                        if json.loads(b).get("in_reply_to") == request.id]  # fmt: skip
            return mine if len(mine) >= count else []

        frames = wait_until(found, timeout, f"{count} reply(ies) to {request.action}")
        return [
            (headers, body, decode_and_verify(body, keys=host.keys, now=time.time()))
            for headers, body in frames
        ]

    def reports_from(self, host: Host, count: int = 1, timeout: float = 30):
        """The reports `host` sent so far, verified, once there are at least `count`."""

        def found() -> list[tuple[dict[str, str], bytes]]:
            with self._lock:
                mine = [(h, b) for h, b in self.replies if _is_report_from(b, host.certname)]
            return mine if len(mine) >= count else []

        frames = wait_until(found, timeout, f"{count} report(s) from {host.certname}")
        return [
            (headers, body, decode_and_verify(body, keys=host.keys, now=time.time()))
            for headers, body in frames
        ]

    def received(self) -> list[bytes]:
        """Every body from /queue/orbiter.replies so far, in the order they arrived."""
        with self._lock:
            return [body for _, body in self.replies]

    def close(self) -> None:
        self.conn.disconnect()


def _is_report_from(body: bytes, certname: str) -> bool:
    obj = json.loads(body)
    return obj.get("kind") == "report" and obj.get("sender") == certname
