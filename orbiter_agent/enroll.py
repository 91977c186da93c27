"""`orbiter-agent enroll`: offer this agent's public key to Orbiter.

    orbiter-agent enroll --config /etc/orbiter-agent/agent.toml --url https://orbiter.example.test \\
        [--token-file /etc/orbiter-agent/enroll.token | --token TOKEN] [--ca-file ca.pem]

POSTs {"certname", "public_key", "token"} (JSON) to URL/agents/enroll. With a valid
one-time token (`orbiter agents token CERTNAME`) the key is trusted at once; without one
it waits as "pending" until an admin runs `orbiter agents approve CERTNAME --fingerprint
FP` with the fingerprint printed here. It is read on this host, not from the server, so
a key swapped in transit is not approved by mistake.

The public key is derived from the config's private key, so what is offered is always
the key the agent signs with. https is verified (--ca-file, else the system CAs);
redirects are not followed: a POST silently turned into a GET, or sent on to another
host, would only hide a wrong URL.
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orbiter_agent.config import ConfigError, load_config
from orbiter_agent.keys import fingerprint, public_key_b64

ENROLL_PATH = "/agents/enroll"
TIMEOUT_S = 30.0
STATUSES = ("trusted", "pending")


class EnrollError(Exception):
    """Enrollment could not be asked for or was refused; the message says why."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx answer


def enroll(
    config_path: str | Path,
    url: str,
    *,
    token: str | None = None,
    token_file: str | Path | None = None,
    ca_file: str | Path | None = None,
) -> int:
    """The `enroll` command: 0 when the server answered 200, 2 otherwise (message on stderr)."""
    try:
        config = load_config(config_path)
        token = _token(token, token_file)
        key = config.signing_key().public_key()
        payload = {"certname": config.certname, "public_key": public_key_b64(key), "token": token}
        answer = post_enrollment(url, payload, ca_file=ca_file)
        mine = fingerprint(key)
        status = answer.get("status")
        if status not in STATUSES:
            raise EnrollError(f"unexpected answer from {url}: status {status!r}")
        theirs = answer.get("fingerprint", mine)
        if theirs != mine:
            raise EnrollError(f"the server recorded key {theirs}, but this host's key is {mine}")
    except (ConfigError, EnrollError) as exc:
        print(f"orbiter-agent: {exc}", file=sys.stderr)
        return 2
    print(f"status: {status}")
    print(f"fingerprint: {mine}")
    if status == "pending":
        print(
            f"an admin trusts it with: orbiter agents approve {config.certname} --fingerprint {mine}"
        )
        print(
            "(if Orbiter does not list this host yet, it waits as unassigned: "
            f"orbiter hosts assign {config.certname} --environment ENV --fingerprint {mine})"
        )
    return 0


def post_enrollment(
    url: str,
    payload: dict[str, str],
    *,
    ca_file: str | Path | None = None,
    timeout: float = TIMEOUT_S,
) -> dict[str, Any]:
    """POST `payload` to URL/agents/enroll and return the JSON answer to a 200.

    Any other answer raises EnrollError carrying the server's "message".
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise EnrollError(f"--url must look like https://orbiter.example.test, got {url!r}")
    if ca_file is not None and parts.scheme != "https":
        raise EnrollError("--ca-file verifies https only: give an https:// URL")
    if payload.get("token") and parts.scheme != "https":
        print("orbiter-agent: warning: sending the token over plain http", file=sys.stderr)
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=context)
    )
    target = url.rstrip("/") + ENROLL_PATH
    request = urllib.request.Request(
        target,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
        if 300 <= status < 400:
            where = exc.headers.get("Location", "elsewhere")
            raise EnrollError(
                f"{target} redirects (HTTP {status}) to {where}: use that URL"
            ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EnrollError(f"cannot reach {target}: {reason}") from exc
    answer = _json_object(body)
    if status != 200:
        message = answer.get("message") or body.decode(errors="replace").strip()[:300]
        raise EnrollError(f"enrollment refused (HTTP {status}): {message}")
    return answer


def _token(token: str | None, token_file: str | Path | None) -> str:
    if token_file is None:
        return token or ""
    try:
        text = Path(token_file).read_text().strip()
    except OSError as exc:
        raise EnrollError(f"--token-file: cannot read {token_file}: {exc.strerror}") from exc
    if not text:
        raise EnrollError(f"--token-file: {token_file} is empty")
    return text


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
