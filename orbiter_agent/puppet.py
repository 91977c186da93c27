"""Puppet runs for the agent: one at a time, classified, and summarised from Puppet's files.

`PuppetRunner.run()`:

1. takes `puppet.lock` in the state dir with flock (`puppet apply` takes no lock of its
   own), waiting up to `lock_timeout_s`; then waits, within the same time, for a run a
   previous agent process left behind (its process group is in `puppet.pid`);
2. runs the configured command in a new process group, output to a temporary file (a
   service Puppet starts may keep a pipe open forever), killing the group on timeout;
3. classifies: exit 0/2 ok, 4/6 failed (resource failures), anything else, a timeout or
   a lock held transient (Puppet's own run lock is retried until the same deadline); a
   run whose ENC could not reach Orbiter is `enc_unreachable`: an outage of the control
   plane, which the engine retries without using up the host's attempt;
4. reads `last_run_summary.yaml` and `last_run_report.yaml` if this run wrote them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orbiter_agent.config import PuppetConfig
from orbiter_agent.enc import UNREACHABLE
from orbiter_agent.schema import TAG_RE

OK, FAILED, TRANSIENT = "ok", "failed", "transient"
TAIL_CHARS = 4000
LOG_LEVELS = frozenset({"warning", "err", "alert", "emerg", "crit"})
MAX_LOGS = 20
PUPPET_LOCK_MARKERS = (
    "Run of Puppet configuration client already in progress",
    "agent_catalog_run.lock",
)
PUPPET_LOCK_RETRY_S = 5.0
# Puppet's words when the exec node terminus (an ENC) failed: "Failed to find <node> via exec".
ENC_FAILED_MARKER = "via exec: Execution of"
KILL_GRACE_S = 5.0
EXIT_CODES = {  # --detailed-exitcodes; any other code, a timeout or a lock: TRANSIENT
    0: (OK, "unchanged", "no changes"),
    2: (OK, "changed", "resources changed"),
    4: (FAILED, "resource_failures", "some resources failed to apply"),
    6: (FAILED, "resource_failures", "resources changed, some failed to apply"),
}


@dataclass
class RunResult:
    """What one `puppet.run` did; `to_dict()` is the reply's result."""

    status: str  # OK, FAILED or TRANSIENT
    kind: str  # unchanged, changed, resource_failures, run_failed, timeout, lock_held, enc_unreachable,
    # enc_failed
    message: str
    exit_code: int | None = None
    changed: bool = False
    noop: bool = False
    tags: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    resources: dict[str, int] | None = None
    puppet_time_s: float | None = None
    puppet_version: str | None = None
    report_status: str | None = None
    logs: list[dict[str, str]] = field(default_factory=list)
    output_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        # Not permanent even for resource failures: the next attempt may succeed.
        flags = {"ok": self.ok, "transient": self.status == TRANSIENT, "permanent": False}
        return {**flags, **asdict(self)}


class PuppetRunner:
    def __init__(
        self, config: PuppetConfig, state_dir: str | os.PathLike[str], packages: Sequence[str] = ()
    ) -> None:
        self.config = config
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.lock_path = self.state_dir / "puppet.lock"
        self.pid_path = self.state_dir / "puppet.pid"
        self.packages = tuple(packages)

    def run(self, noop: bool, tags: list[str], timeout_s: int) -> RunResult:
        # Checked with the request already; checked again where Puppet's arguments are made.
        for tag in tags:
            if not TAG_RE.fullmatch(tag):
                raise ValueError(f"tag {tag!r} is not a Puppet tag (A-Z a-z 0-9 _ : -, not -…)")
        result = self._run_alone(noop, tags, timeout_s)
        result.noop, result.tags = noop, list(tags)
        return result

    def facts(self) -> dict[str, Any]:
        """Installed versions of the configured packages and the last run's summary."""
        summary = read_yaml(self.config.publicdir / "last_run_summary.yaml")
        return {
            "packages": {name: installed_version(name) for name in self.packages},
            "last_run": _summary_fields(summary) if summary else None,
        }

    def _run_alone(self, noop: bool, tags: list[str], timeout_s: int) -> RunResult:
        deadline = time.monotonic() + self.config.lock_timeout_s
        with self._locked(deadline) as held:
            if not held:
                return RunResult(TRANSIENT, "lock_held", f"another run holds {self.lock_path}")
            if (pgid := self._wait_for_orphan(deadline)) is not None:
                why = f"a run an earlier agent started (process group {pgid}) is still going"
                return RunResult(TRANSIENT, "lock_held", why)
            while True:
                result = self._run_once(noop, tags, timeout_s)
                if result.kind != "lock_held" or time.monotonic() + PUPPET_LOCK_RETRY_S > deadline:
                    return result
                time.sleep(PUPPET_LOCK_RETRY_S)

    def _run_once(self, noop: bool, tags: list[str], timeout_s: int) -> RunResult:
        command = [*self.config.command, *(["--noop"] if noop else [])]
        command += [f"--tags={','.join(tags)}"] if tags else []  # one argument, never an option
        started, wall_start = time.monotonic(), time.time()
        with tempfile.TemporaryFile(dir=self.state_dir) as out:
            try:  # an argument list from the agent's own config, no shell
                proc = subprocess.Popen(  # noqa: S603
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                return RunResult(
                    TRANSIENT, "run_failed", f"cannot start {command[0]}: {exc.strerror}"
                )
            self.pid_path.write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
            try:
                timed_out = not _wait(proc, timeout_s)
                if timed_out:
                    _kill_group(proc)
            finally:
                if proc.poll() is not None:
                    self.pid_path.unlink(missing_ok=True)
            tail = _tail(out)
        result = _classify(proc.returncode, timed_out, tail, timeout_s)
        result.exit_code, result.output_tail = proc.returncode, tail
        result.duration_s = round(time.monotonic() - started, 3)
        self._add_summary(result, wall_start)
        return result

    def _add_summary(self, result: RunResult, since: float) -> None:
        """Fill in what this run wrote to Puppet's files (older files are not this run's)."""
        if summary := read_yaml(self.config.publicdir / "last_run_summary.yaml", since):
            fields = _summary_fields(summary)
            result.resources, result.puppet_version = fields["resources"], fields["puppet_version"]
            result.puppet_time_s = fields["time_s"]
            if result.kind == "changed" and result.resources:
                result.message = f"{result.resources.get('changed', 0)} resource(s) changed"
        report_path = self.config.vardir / "state" / "last_run_report.yaml"
        if report := read_yaml(report_path, since, _ReportLoader):
            result.report_status = report.get("status")
            logs = [e for e in report.get("logs") or [] if isinstance(e, dict)]
            result.logs = [
                {k: str(e.get(k, "")).replace("\x00", "")[:500] for k in ("level", "source", "message")}
                for e in logs
                if e.get("level") in LOG_LEVELS
            ][-MAX_LOGS:]

    @contextlib.contextmanager
    def _locked(self, deadline: float) -> Iterator[bool]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.2)
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _wait_for_orphan(self, deadline: float) -> int | None:
        while (pgid := self._orphan()) is not None and time.monotonic() < deadline:
            time.sleep(0.5)
        return pgid

    def _orphan(self) -> int | None:
        """The process group of a run whose agent died, if any of it is still alive."""
        try:
            pid_text, start = self.pid_path.read_text().split()
            pgid = int(pid_text)
            os.killpg(pgid, 0)
        except (OSError, ValueError):
            return None
        now_start = _start_time(pgid)
        return None if now_start not in ("-", start) else pgid  # "-": its leader has exited


def _classify(code: int | None, timed_out: bool, tail: str, timeout_s: int) -> RunResult:
    if timed_out:
        why = f"Puppet did not finish within {timeout_s}s; its process group was killed"
        return RunResult(TRANSIENT, "timeout", why)
    if code == 1 and any(marker in tail for marker in PUPPET_LOCK_MARKERS):
        return RunResult(TRANSIENT, "lock_held", "Puppet's own run lock is held by another run")
    if code == 1 and UNREACHABLE in tail:  # orbiter-enc's last word, quoted by Puppet
        why = ("Puppet could not classify this host: Orbiter's ENC (the control plane's web service) could not "
               f"be reached - an outage of the control plane, not of this host ({_line_with(UNREACHABLE, tail)})")
        return RunResult(TRANSIENT, "enc_unreachable", why)
    if code == 1 and ENC_FAILED_MARKER in tail:
        why = f"Puppet could not classify this host: its ENC failed ({_line_with(ENC_FAILED_MARKER, tail)})"
        return RunResult(TRANSIENT, "enc_failed", why)
    if code in EXIT_CODES:
        status, kind, why = EXIT_CODES[code]
        return RunResult(status, kind, why, changed=code in (2, 6))
    why = f"Puppet exited with code {code}: the run failed (catalog, compilation or agent error)"
    return RunResult(TRANSIENT, "run_failed", why)


def _line_with(marker: str, tail: str) -> str:
    """The part of the output's last line holding `marker`, from the marker on (bounded)."""
    line = next(line for line in reversed(tail.splitlines()) if marker in line)
    return line[line.index(marker):][:300].strip()


class _ReportLoader(yaml.SafeLoader):
    """Safe YAML that reads Ruby-tagged objects (`!ruby/object:...`) as plain data."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_ReportLoader.add_multi_constructor("!ruby/", _untagged)


def read_yaml(path: Path, since: float | None = None, loader: type = yaml.SafeLoader) -> dict:
    """A YAML mapping from `path` ({} if absent or unreadable), if written after `since`."""
    try:
        if since is not None and path.stat().st_mtime < since - 1:  # coarse file times
            return {}
        with open(path, "rb") as f:
            data = yaml.load(f, Loader=loader)  # noqa: S506 - SafeLoader or a subclass of it
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _summary_fields(summary: dict[str, Any]) -> dict[str, Any]:
    resources, times, version = (summary.get(k) or {} for k in ("resources", "time", "version"))
    keys = ("changed", "failed", "out_of_sync", "total")
    return {
        "resources": {k: resources[k] for k in keys if isinstance(resources.get(k), int)},
        "time_s": times.get("total"),
        "last_run": times.get("last_run"),
        "puppet_version": version.get("puppet"),
        "config_version": version.get("config"),
    }


def installed_version(name: str) -> str | None:
    """The installed VERSION-RELEASE (rpm) or version (dpkg) of a package, None if absent."""
    if shutil.which("rpm"):
        out = _query(["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\\n", name])
        if out:
            return " ".join(out.split())  # several versions installed: all of them
    if shutil.which("dpkg-query"):  # also where rpm exists but does not manage this package
        out = _query(["dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", name])
        if out and out.startswith("installed "):
            return out.split(" ", 1)[1]
    return None


def _query(command: list[str]) -> str | None:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait for `proc` to exit within `timeout_s`; False if it did not.

    Sleeps in poll(2) on a pidfd (Linux 5.3+), woken the moment the process exits:
    `Popen.wait(timeout)` instead polls with growing sleeps, which adds latency and, with
    hundreds of agents in one process, GIL wake-ups."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # another OS, an older kernel
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        exited = select.poll()
        exited.register(pidfd, select.POLLIN)
        if not exited.poll(max(0, int(timeout_s * 1000))):
            return False
    finally:
        os.close(pidfd)
    proc.wait()
    return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=KILL_GRACE_S)
            if sig == signal.SIGKILL:
                return
    proc.wait()


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks, to tell a reused pid apart; "-" if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "-"


def _tail(out: Any) -> str:
    out.seek(max(0, out.seek(0, os.SEEK_END) - TAIL_CHARS * 4))  # 4: the longest UTF-8 char
    # NUL-free: the reply schema refuses it (PostgreSQL stores none)
    return out.read().decode("utf-8", errors="replace").replace("\x00", "\ufffd")[-TAIL_CHARS:]
