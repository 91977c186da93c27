"""A real HTTP receiver on 127.0.0.1, the receiver-side verification exactly as
docs/notifications.md prints it, and helpers to run notifications to their end."""

import json
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from orbiter.notifications.models import PENDING, Delivery

DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"
HOOK_KEY = "s3cret-hook-key-for-tests"


def documented_verify():
    """The `verify` function of the docs' 'Verifying a webhook' section, executed as is."""
    text = DOCS.read_text()
    section = text[text.index("### Verifying a webhook"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """Records every POST; answers with the scripted statuses in turn, then `default`.
    `hang=True` makes it hold every request until stop() (a receiver that never answers)."""

    def __init__(self, *statuses: int, default: int = 200, hang: bool = False):
        self.requests: list[Received] = []
        self._statuses = list(statuses)
        self._default = default
        self._release = threading.Event()
        if not hang:
            self._release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(Received(self.path, dict(self.headers), body))
                receiver._release.wait(30)
                status = receiver._statuses.pop(0) if receiver._statuses else receiver._default
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver says no")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/orbiter"

    def stop(self):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (a receiver that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/orbiter"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settle(tasks, count: int, *, timeout: float = 15.0) -> list[Delivery]:
    """Run the task queue until `count` deliveries exist and none is pending; oldest first."""

    def done():
        rows = list(Delivery.objects.all())
        return len(rows) >= count and all(d.status != PENDING for d in rows)

    tasks.run_until(done, timeout=timeout)
    return list(Delivery.objects.select_related("channel").order_by("id"))
