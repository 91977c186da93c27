"""A fake Jenkins implementing exactly the remote API endpoints python-jenkins calls for the
Jenkins gate, written from Jenkins' own documentation:

- Remote access API, https://www.jenkins.io/doc/book/using/remote-access-api/ : a build is
  triggered with `POST /job/NAME/buildWithParameters?P=V` (or `/build` without parameters);
  Jenkins answers 201 with a `Location` header naming the queue item (`/queue/item/N/`);
  `GET /queue/item/N/api/json` has `why` while the item waits and `executable` (number, url)
  once a build started, or `cancelled: true`; `GET /job/NAME/B/api/json` has `building`,
  `result` (null while building, then SUCCESS, UNSTABLE, FAILURE, NOT_BUILT or ABORTED),
  `number`, `url`; `GET /job/NAME/B/consoleText` is the console log as plain text. Jobs in
  folders are addressed `/job/FOLDER/job/NAME/...`. Authentication is HTTP basic with a user
  name and an API token.
- CSRF protection, https://www.jenkins.io/doc/book/security/csrf-protection/ :
  `GET /crumbIssuer/api/json` returns `crumb` and `crumbRequestField` (`Jenkins-Crumb`), and a
  POST without that header is refused with 403.

Tests script each job's behaviour (result, how long it queues and builds, console text) and
read back what was triggered.
"""

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

CRUMB = "5f1c2b0e9d"
_JOB_PATH = r"/((?:job/[^/]+/)*job/[^/]+)"


@dataclass
class JobScript:
    result: str = "SUCCESS"
    queued_polls: int = 1  # queue polls answered with `why` before the build starts
    building_polls: int = 1  # build polls answered `building: true` before the result
    console: str = "Started by remote API\nFinished: SUCCESS\n"
    cancel_in_queue: bool = False


@dataclass
class Build:
    job: str
    number: int
    parameters: dict
    queue_item: int
    queue_polls: int = 0
    build_polls: int = 0


@dataclass
class FakeJenkins:
    username: str = "ci"
    token: str = "s3cret-token"
    jobs: dict[str, JobScript] = field(default_factory=dict)
    builds: list[Build] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self):
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def triggered(self, job: str) -> list[dict]:
        return [b.parameters for b in self.builds if b.job == job]

    # --- the API ---

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        with self._lock:
            self.requests.append((method, path))
            if not self._authorized(handler):
                return _send(handler, 401, "text/html", "<html>Unauthorized</html>")
            if method == "GET" and path == "/crumbIssuer/api/json":
                return _json(handler, {"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": CRUMB,
                                       "crumbRequestField": "Jenkins-Crumb"})
            if method == "POST":
                if handler.headers.get("Jenkins-Crumb") != CRUMB:
                    return _send(handler, 403, "text/html", "No valid crumb was included in the request")
                match = re.fullmatch(_JOB_PATH + r"/(buildWithParameters|build)", path)
                if match:
                    return self._trigger(handler, _job_name(match.group(1)), dict(parse_qsl(parts.query)))
            if method == "GET":
                match = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
                if match:
                    return self._queue_item(handler, int(match.group(1)))
                match = re.fullmatch(_JOB_PATH + r"/(\d+)/(api/json|consoleText)", path)
                if match:
                    return self._build(handler, _job_name(match.group(1)), int(match.group(2)), match.group(3))
            return _send(handler, 404, "text/html", "<html>Not Found</html>")

    def _authorized(self, handler) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return handler.headers.get("Authorization") == f"Basic {expected}"

    def _trigger(self, handler, job: str, parameters: dict) -> None:
        if job not in self.jobs:
            return _send(handler, 404, "text/html", "<html>Not Found</html>")
        number = 1 + sum(1 for b in self.builds if b.job == job)
        queue_item = 100 + len(self.builds)
        self.builds.append(Build(job, number, parameters, queue_item))
        handler.send_response(201)
        handler.send_header("Location", f"{self.url}queue/item/{queue_item}/")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _queue_item(self, handler, item: int) -> None:
        build = next((b for b in self.builds if b.queue_item == item), None)
        if build is None:
            return _send(handler, 404, "text/html", "<html>Not Found</html>")
        script = self.jobs[build.job]
        build.queue_polls += 1
        body = {"_class": "hudson.model.Queue$WaitingItem", "id": item, "task": {"name": build.job},
                "blocked": False, "buildable": True, "cancelled": False, "executable": None}
        if script.cancel_in_queue:
            body.update(_class="hudson.model.Queue$LeftItem", cancelled=True)
        elif build.queue_polls <= script.queued_polls:
            body["why"] = "Waiting for next available executor"
        else:
            body.update(_class="hudson.model.Queue$LeftItem", why=None,
                        executable={"number": build.number, "url": self._build_url(build)})
        _json(handler, body)

    def _build(self, handler, job: str, number: int, what: str) -> None:
        build = next((b for b in self.builds if b.job == job and b.number == number), None)
        if build is None:
            return _send(handler, 404, "text/html", "<html>Not Found</html>")
        script = self.jobs[job]
        if what == "consoleText":
            return _send(handler, 200, "text/plain", script.console)
        build.build_polls += 1
        building = build.build_polls <= script.building_polls
        _json(handler, {"_class": "hudson.model.FreeStyleBuild", "number": number, "url": self._build_url(build),
                        "building": building, "result": None if building else script.result,
                        "fullDisplayName": f"{job} #{number}"})

    def _build_url(self, build: Build) -> str:
        path = "/".join(f"job/{part}" for part in build.job.split("/"))
        return f"{self.url}{path}/{build.number}/"


def _job_name(path: str) -> str:
    return "/".join(path.split("/")[1::2])


def _json(handler, body: dict) -> None:
    _send(handler, 200, "application/json", json.dumps(body))


def _send(handler, status: int, content_type: str, body: str) -> None:
    data = body.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", f"{content_type};charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
