"""The backend application of the zero-downtime lab, and the command that restarts it at a
new version (what the `command` converge driver runs). Standard library only: it starts in
a fraction of a second and never imports Django.

    python lab/zero_downtime_backend.py serve --dir D --certname C --version V
    python lab/zero_downtime_backend.py restart --dir D C V    # exit 0 once V answers
    python lab/zero_downtime_backend.py stop --dir D C

`D/backends.json` maps each certname to {"name", "address", "port"} (written by the lab).
A backend answers `/health` with "ok <version>" and every other path, after `WORK_S`, with
"<name> <version>" and the headers X-Backend and X-Version. On SIGTERM it stops accepting,
finishes the requests in flight, removes its pidfile and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

WORK_S = 0.005  # each request takes a few ms, so a request cut by a restart would show
STOP_TIMEOUT_S = 10.0
START_TIMEOUT_S = 15.0


def backends(lab: Path) -> dict[str, dict]:
    return json.loads((lab / "backends.json").read_text())


def pidfile(lab: Path, certname: str) -> Path:
    return lab / f"{certname}.pid"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the requests in flight
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idle to reuse after a restart

    def do_GET(self):
        name, version = self.server.backend_name, self.server.version
        if self.path == "/health":
            body = f"ok {version}\n".encode()
        else:
            time.sleep(WORK_S)
            body = f"{name} {version}\n".encode()
        self.send_response(200)
        self.send_header("X-Backend", name)
        self.send_header("X-Version", version)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(lab: Path, certname: str, version: str) -> int:
    spec = backends(lab)[certname]
    server = _Server((spec["address"], spec["port"]), _Handler)
    server.backend_name, server.version = spec["name"], version
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    tmp = pidfile(lab, certname).with_suffix(".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(pidfile(lab, certname))
    stop.wait()
    server.shutdown()
    server.server_close()  # joins the request threads: in-flight requests finish
    with contextlib.suppress(FileNotFoundError):
        pidfile(lab, certname).unlink()
    return 0


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(lab: Path, certname: str) -> str:
    """SIGTERM the backend and wait until it has exited (SIGKILL after STOP_TIMEOUT_S)."""
    try:
        pid = int(pidfile(lab, certname).read_text())
    except (OSError, ValueError):
        return "was not running"
    if not alive(pid):
        return "was not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        return "killed (did not stop on SIGTERM)"
    return "stopped"


def answers(spec: dict, version: str, timeout: float = 1.0) -> bool:
    conn = http.client.HTTPConnection(spec["address"], spec["port"], timeout=timeout)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        return response.status == 200 and version in response.read().decode()
    except OSError:
        return False
    finally:
        conn.close()


def start(lab: Path, certname: str, version: str) -> subprocess.Popen:
    """Start a backend in its own session and wait until it answers at `version`."""
    spec = backends(lab)[certname]
    with open(lab / f"{certname}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "serve", "--dir", str(lab), "--certname", certname,
             "--version", version],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers(spec, version):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"backend {certname} at {version} did not start (see {lab / f'{certname}.log'})")
        time.sleep(0.02)
    return process


def restart(lab: Path, certname: str, version: str) -> int:
    started = time.monotonic()
    how = stop(lab, certname)
    try:
        start(lab, certname, version)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{certname}: old backend {how}; now serving {version} ({time.monotonic() - started:.2f}s)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="zero_downtime_backend.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--certname", required=True)
    p.add_argument("--version", required=True)
    for action in ("restart", "stop"):
        p = sub.add_parser(action)
        p.add_argument("--dir", type=Path, required=True)
        p.add_argument("certname")
        if action == "restart":
            p.add_argument("version")
    args = parser.parse_args(argv)
    if args.certname not in backends(args.dir):
        parser.error(f"unknown certname {args.certname!r}; known: {', '.join(backends(args.dir))}")
    if args.action == "serve":
        return serve(args.dir, args.certname, args.version)
    if args.action == "restart":
        return restart(args.dir, args.certname, args.version)
    print(f"{args.certname}: {stop(args.dir, args.certname)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
