"""HTTP(S) health check: GET a URL on the host, expect a status and, optionally, a text in
the body (typically the version just deployed).

Options:
  url              required; http:// or https://, with {certname} and {version} substituted,
                   e.g. "http://{certname}:8080/health" or "https://{certname}/version"
  expected_status  default 200 (100-599); the first answer counts: redirects are not followed
  expected_text    optional; {version} substituted; must appear in the first 64 KiB of the body
  timeout_s        per try, default 5 (above 0, at most 60)
  retries          tries after the first, default 2 (0-10)
  retry_delay_s    between tries, default 0.5 (0-10)
  ca_file          HTTPS: PEM file of the CA to trust instead of the system store

Certificates are always verified (HTTPS); environment proxy variables are ignored (the
control plane dials the host directly). A wrong status, a missing text, a refused
connection or a timeout is transient (the engine retries the step); a URL that cannot be
built from the options is refused when the driver is built.
"""

import os
import ssl
import string
import urllib.error
import urllib.parse
import urllib.request

from orbiter.common.errors import DriverError
from orbiter.health.base import HealthCheck, attempts

BODY_LIMIT = 65536
PLACEHOLDERS = {"certname", "version"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx itself is the answer, checked against expected_status


class HttpHealthCheck(HealthCheck):
    name = "http"
    options_allowed = ("url", "expected_status", "expected_text", "timeout_s", "retries",
                       "retry_delay_s", "ca_file")

    def __init__(self, options: dict):
        super().__init__(options)
        self.url = self._url_template()
        self.expected_status = self.integer("expected_status", 200, low=100, high=599)
        self.expected_text = self._template("expected_text", {"version"}, default="")
        self.timeout_s, self.retries, self.retry_delay_s = self.retry_options()
        handlers = [urllib.request.ProxyHandler({}), _NoRedirect()]
        ca_file = options.get("ca_file")
        if ca_file is not None:
            if not isinstance(ca_file, str) or not os.path.isabs(ca_file):
                raise self.invalid("ca_file", "must be the absolute path of a PEM file")
            try:
                handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_file)))
            except (OSError, ssl.SSLError) as error:
                raise self.invalid("ca_file", f"cannot be loaded: {error}") from None
        self._opener = urllib.request.build_opener(*handlers)

    def check(self, certname: str, version: str) -> str:
        url = self.url.format(certname=certname, version=version)
        text = self.expected_text.format(version=version)
        return attempts(lambda: self._probe(url, text), retries=self.retries, delay_s=self.retry_delay_s)

    def _probe(self, url: str, text: str) -> str:
        try:
            with self._opener.open(url, timeout=self.timeout_s) as response:
                status, body = response.status, response.read(BODY_LIMIT)
        except urllib.error.HTTPError as error:  # 4xx/5xx and unfollowed 3xx: still an answer
            status, body = error.code, b""
            error.close()
        except (OSError, ValueError) as error:  # refused, reset, timeout, TLS, bad host
            reason = getattr(error, "reason", error)
            raise DriverError(f"GET {url}: {reason}") from error
        if status != self.expected_status:
            raise DriverError(f"GET {url}: status {status}, expected {self.expected_status}")
        if text and text not in body.decode("utf-8", "replace"):
            raise DriverError(f"GET {url}: status {status} but the body does not contain {text!r}")
        return f"GET {url}: {status}" + (f", body contains {text!r}" if text else "")

    def _template(self, option: str, allowed: set[str], default: str | None = None) -> str:
        value = self.options.get(option, default)
        if not isinstance(value, str):
            raise self.invalid(option, "is required" if value is None else f"must be text, not {value!r}")
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as error:
            raise self.invalid(option, f"is not a valid template ({error}); write literal braces as {{{{ }}}}") from None
        if unknown := sorted(fields - allowed):
            raise self.invalid(option, f"has unknown placeholder {{{unknown[0]}}}; allowed: "
                                       f"{', '.join('{' + a + '}' for a in sorted(allowed))}")
        return value

    def _url_template(self) -> str:
        url = self._template("url", PLACEHOLDERS)
        sample = urllib.parse.urlsplit(url.format(certname="host.example", version="1.0.0-1"))
        if sample.scheme not in ("http", "https") or not sample.hostname:
            raise self.invalid("url", f"must be an http:// or https:// URL with a host, not {url!r}")
        return url
