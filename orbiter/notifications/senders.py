"""Sending one delivery over its channel's kind. Every sender raises DriverError with
`permanent` deciding retry or give up, and returns the HTTP status it got (None for email).

Transient: connection refused or reset, timeouts, HTTP 5xx, 408 and 429, SMTP 4xx.
Permanent: other 4xx (wrong URL, bad key), redirects (configure the final URL), a secret
that cannot be read, SMTP 5xx and refused recipients.
"""

import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from orbiter.common.errors import DriverError
from orbiter.notifications import payloads, secret_refs
from orbiter.notifications.models import EMAIL, SLACK, WEBHOOK, Channel, Delivery

USER_AGENT = "Orbiter-Notifications/1"


def signature(key: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` under the channel's key."""
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_bytes(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


class HTTPFailure(DriverError):
    """The receiver answered, with a status that is not 2xx."""

    def __init__(self, message: str, *, status: int, permanent: bool):
        super().__init__(message, permanent=permanent)
        self.status = status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx then surfaces as an HTTPError


_opener = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers,
    })
    try:
        with _opener.open(request, timeout=settings.ORBITER_NOTIFY_TIMEOUT_SECONDS) as response:
            response.read(1024)
            return response.status
    except urllib.error.HTTPError as error:
        detail = error.read(200).decode("utf-8", "replace").strip()
        status = error.code
        text = f"HTTP {status}" + (f": {detail}" if detail else "")
        if 300 <= status < 400:
            text += f" (redirect to {error.headers.get('Location', '?')}; configure the final URL)"
        transient = status >= 500 or status in (408, 429)
        raise HTTPFailure(text, status=status, permanent=not transient) from None
    except urllib.error.URLError as error:
        raise DriverError(f"cannot reach the receiver: {error.reason}", permanent=False) from None
    except TimeoutError:
        raise DriverError(
            f"no answer within {settings.ORBITER_NOTIFY_TIMEOUT_SECONDS:g}s", permanent=False
        ) from None
    except (ConnectionError, OSError) as error:
        raise DriverError(f"connection failed: {error}", permanent=False) from None


def send_webhook(channel: Channel, delivery: Delivery) -> int:
    key = secret_refs.resolve(channel.secret)
    body = body_bytes(delivery.payload)
    timestamp = str(int(time.time()))
    return _post(channel.url, body, {
        "X-Orbiter-Event": delivery.event,
        "X-Orbiter-Delivery": str(delivery.uuid),
        "X-Orbiter-Timestamp": timestamp,
        "X-Orbiter-Signature": signature(key, timestamp, body),
    })


def send_slack(channel: Channel, delivery: Delivery) -> int:
    url = secret_refs.resolve(channel.secret)
    if not url.startswith(("https://", "http://")):
        raise DriverError(f"secret {channel.secret}: is not an http(s) URL", permanent=True)
    return _post(url, body_bytes(payloads.slack_message(delivery.payload)), {})


def send_email(channel: Channel, delivery: Delivery) -> None:
    subject, body = payloads.email_message(delivery.payload)
    message = EmailMessage(subject=subject, body=body, to=list(channel.recipients),
                           headers={"X-Orbiter-Event": delivery.event, "X-Orbiter-Delivery": str(delivery.uuid)})
    try:
        get_connection(timeout=settings.ORBITER_NOTIFY_TIMEOUT_SECONDS).send_messages([message])
    except smtplib.SMTPRecipientsRefused as error:
        raise DriverError(f"SMTP refused the recipients: {', '.join(error.recipients)}", permanent=True) from None
    except smtplib.SMTPResponseException as error:
        reply = error.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        raise DriverError(f"SMTP {error.smtp_code}: {text}", permanent=error.smtp_code >= 500) from None
    except (smtplib.SMTPException, OSError) as error:
        raise DriverError(f"SMTP: {type(error).__name__}: {error}", permanent=False) from None
    return None


SENDERS = {WEBHOOK: send_webhook, SLACK: send_slack, EMAIL: send_email}
