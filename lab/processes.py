"""Start Orbiter's own processes (Celery worker, beat) as subprocesses for tests and benches.

Each runs in its own session so `kill()` can SIGKILL the whole process tree, like a
machine losing the process: nothing gets to clean up.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORBITER = str(Path(sys.executable).with_name("orbiter"))


class Process:
    def __init__(self, args: list[str], env: dict, log_path: Path):
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(
            [ORBITER, *args], env={**os.environ, **env}, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.args[0]} not ready ({text!r} not in log):\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the process and all its children at once."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
        self._log.close()

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._log.close()


def start_worker(env: dict, log_dir: Path, *, name: str = "worker", concurrency: int = 2,
                 pool: str = "prefork") -> Process:
    process = Process(
        ["worker", f"--hostname={name}@%h", f"--concurrency={concurrency}", f"--pool={pool}",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env, Path(log_dir) / f"{name}.log",
    )
    process.wait_for_log("ready.")
    return process


def start_scheduler(env: dict, log_dir: Path) -> Process:
    log_dir = Path(log_dir)
    process = Process(["scheduler", f"--schedule={log_dir / 'beat-schedule'}", "--max-interval=1"],
                      env, log_dir / "scheduler.log")
    process.wait_for_log("beat: Starting")
    return process
