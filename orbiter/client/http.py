"""The API client: one requests session, `Authorization: Bearer`, timeouts on every call, TLS
verified (against ORBITER_CA_FILE when set, else the system's CAs), and every failure turned
into a ClientError with the exit code its kind deserves (orbiter/client/errors.py)."""

import os
import re
from urllib.parse import quote

import requests

from orbiter.client.credentials import Credentials
from orbiter.client.errors import FAILED, REFUSED, UNREACHABLE, USAGE, ClientError

# (connect, read) seconds; ORBITER_HTTP_TIMEOUT overrides the read timeout.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0

# HTTP status -> exit code. 401 is a credentials problem (5), like not reaching the server.
_EXIT_BY_STATUS = {400: USAGE, 404: USAGE, 405: USAGE, 401: UNREACHABLE, 403: REFUSED, 409: REFUSED}


def read_timeout() -> float:
    text = os.environ.get("ORBITER_HTTP_TIMEOUT", "").strip()
    if not text:
        return READ_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ClientError(f"ORBITER_HTTP_TIMEOUT: {text!r} is not allowed; give seconds above 0, e.g. 30", USAGE)
    return value


def tls_verify() -> str | bool:
    ca_file = os.environ.get("ORBITER_CA_FILE", "").strip()
    if not ca_file:
        return True
    if not os.path.isfile(ca_file):
        raise ClientError(f"ORBITER_CA_FILE: {ca_file} is not a readable file (a PEM bundle of CA certificates)",
                          USAGE)
    return ca_file


def segment(value: str | int) -> str:
    """A value placed in a URL path, escaped (names come from the command line)."""
    return quote(str(value), safe="")


class Api:
    def __init__(self, credentials: Credentials):
        self.credentials = credentials
        self.base = f"{credentials.url}/api/v1/"
        self.session = requests.Session()
        self.session.headers.update({
            "Authorization": f"Bearer {credentials.token}",
            "Accept": "application/json",
            "User-Agent": "orbiter-cli",
        })
        self.verify = tls_verify()  # given with each request: REQUESTS_CA_BUNDLE must not override it
        self.timeout = (CONNECT_TIMEOUT, read_timeout())

    def get(self, path: str, **params) -> dict:
        return self.call("GET", path, params={k: v for k, v in params.items() if v not in (None, "", [])})

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.call("POST", path, json=body or {})

    def call(self, method: str, path: str, **kwargs) -> dict:
        url = self.base + path
        try:
            response = self.session.request(method, url, timeout=self.timeout, verify=self.verify,
                                            allow_redirects=False, **kwargs)
        except requests.exceptions.SSLError as error:
            raise ClientError(f"TLS verification of {self.credentials.url} failed ({_reason(error)}); "
                              "set ORBITER_CA_FILE to your CA bundle if the server uses a private CA",
                              UNREACHABLE) from None
        except requests.exceptions.Timeout:
            raise ClientError(f"{self.credentials.url} did not answer within {self.timeout[1]:g} s",
                              UNREACHABLE, transient=True) from None
        except requests.exceptions.RequestException as error:
            raise ClientError(f"cannot reach {self.credentials.url}: {_reason(error)}", UNREACHABLE,
                              transient=True) from None
        return self._answer(response)

    def _answer(self, response: requests.Response) -> dict:
        data = _json(response)
        if response.ok and isinstance(data, dict):
            return data
        if response.ok:
            raise ClientError(f"{response.url} answered {response.status_code} without JSON: is "
                              f"{self.credentials.url} an Orbiter server?", UNREACHABLE)
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):  # not Orbiter's error shape: a proxy, another server, a crash
            if 300 <= response.status_code < 400:
                where = response.headers.get("Location", "elsewhere")
                raise ClientError(f"{response.url} redirects to {where}: give that address to `orbiter login`",
                                  UNREACHABLE)
            raise ClientError(f"{response.url} answered {response.status_code} {response.reason}; is "
                              f"{self.credentials.url} an Orbiter server, and up?", UNREACHABLE,
                              transient=response.status_code >= 500)
        message = str(error.get("message") or response.reason)
        code = error.get("code")
        if response.status_code == 401:
            message = (f"authentication failed at {self.credentials.url}: {message} "
                       f"(token from {self.credentials.source}; `orbiter login` to use another)")
        exit_code = _EXIT_BY_STATUS.get(response.status_code, FAILED if response.status_code < 500 else UNREACHABLE)
        problems = error.get("problems")
        raise ClientError(message, exit_code, code=code if isinstance(code, str) else None,
                          transient=response.status_code >= 500,
                          problems=problems if isinstance(problems, list) else None)

    def pages(self, path: str, *, limit: int, **params):
        """The results of a paginated list, at most `limit` of them. Pages are asked for by
        number: the `next` links are built from the server's idea of its own address, and the
        token goes nowhere but the configured URL."""
        page = 1
        count = 0
        while True:
            data = self.get(path, page=page, page_size=min(limit, 200), **params)
            for item in data.get("results", []):
                yield item
                count += 1
                if count >= limit:
                    return
            if not data.get("next"):
                return
            page += 1


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _reason(error: Exception) -> str:
    """The useful part of requests' wrapped message: 'Connection refused', 'certificate verify
    failed: self-signed certificate', 'Name or service not known'."""
    text = str(error)
    for pattern in (r"certificate verify failed[^'\")(]*", r"\[Errno -?\d+\] ([^'\")]+)"):
        found = re.search(pattern, text)
        if found:
            return (found.group(1) if found.groups() else found.group(0)).strip()
    return text or type(error).__name__
