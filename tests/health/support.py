"""A real HTTP server on 127.0.0.1 for the health-check tests, started and stopped by a fixture."""

import http.server
import threading
import time


class App(http.server.ThreadingHTTPServer):
    """Serves `body` with `status` on every path; `failures_left` answers 503 first;
    `delay_s` holds each answer; `/moved` redirects to /health."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status, self.body, self.failures_left, self.delay_s = 200, b"ok", 0, 0.0
        self.requests = 0
        self._lock = threading.Lock()
        threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def answer(self) -> tuple[int, bytes]:
        with self._lock:
            self.requests += 1
            if self.failures_left:
                self.failures_left -= 1
                return 503, b"starting"
        return self.status, self.body

    def stop(self):
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        if self.path == "/moved":
            status, body = 302, b""
        else:
            status, body = self.server.answer()
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/health")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
