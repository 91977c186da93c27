"""HTTPS deployment settings from environment variables (docs/tls.md).

`https_settings(environ)` returns the Django settings to add: a plain function of the
environment, so tests check every variable without restarting Django. Each bad value is
refused with the variable's name and what is allowed.

ORBITER_SECURE_COOKIES        1: session and CSRF cookies only over HTTPS
ORBITER_HSTS_SECONDS          Strict-Transport-Security max-age (0, the default: no header)
ORBITER_HSTS_INCLUDE_SUBDOMAINS  1 (default when HSTS is on): the header covers subdomains
ORBITER_HSTS_PRELOAD          1: the header asks to be preloaded by browsers
ORBITER_PROXY_SSL_HEADER      Header=value the TLS proxy sets on HTTPS requests, e.g.
                              X-Forwarded-Proto=https (only behind a proxy that always sets
                              or strips it: a client could send it otherwise)
ORBITER_CSRF_TRUSTED_ORIGINS  comma separated https://host[:port] origins a form may be
                              posted from (default: ORBITER_BASE_URL's origin when it is https)
ORBITER_SECURE_SSL_REDIRECT   1: plain-HTTP requests are redirected to HTTPS (/healthz excepted)
"""

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
_HEADER = re.compile(r"^([A-Za-z0-9-]+)\s*=\s*(\S+)$")


def https_settings(environ: Mapping[str, str]) -> dict:
    def get(name: str, default: str = "") -> str:
        return environ.get(name, default).strip()

    def flag(name: str, default: bool = False) -> bool:
        value = get(name).lower()
        if not value:
            return default
        if value not in _TRUE + _FALSE:
            raise ImproperlyConfigured(f"{name}={get(name)!r}; allowed: 1 or 0 (true/false, yes/no, on/off)")
        return value in _TRUE

    secure_cookies = flag("ORBITER_SECURE_COOKIES")
    hsts = _seconds(get("ORBITER_HSTS_SECONDS", "0"))
    return {
        "SESSION_COOKIE_SECURE": secure_cookies,
        "CSRF_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_HSTS_SECONDS": hsts,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": hsts > 0 and flag("ORBITER_HSTS_INCLUDE_SUBDOMAINS", True),
        "SECURE_HSTS_PRELOAD": hsts > 0 and flag("ORBITER_HSTS_PRELOAD"),
        "SECURE_PROXY_SSL_HEADER": _proxy_header(get("ORBITER_PROXY_SSL_HEADER")),
        "CSRF_TRUSTED_ORIGINS": _origins(get("ORBITER_CSRF_TRUSTED_ORIGINS"), get("ORBITER_BASE_URL")),
        "SECURE_SSL_REDIRECT": flag("ORBITER_SECURE_SSL_REDIRECT"),
        # A load balancer's health check speaks plain HTTP to the backend.
        "SECURE_REDIRECT_EXEMPT": [r"^healthz$"],
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
        "SECURE_REFERRER_POLICY": "same-origin",
    }


def _seconds(value: str) -> int:
    if not value.isdigit():
        raise ImproperlyConfigured(
            f"ORBITER_HSTS_SECONDS={value!r}; allowed: a whole number of seconds, e.g. 31536000 (a year), 0 for none")
    return int(value)


def _proxy_header(value: str) -> tuple[str, str] | None:
    if not value:
        return None
    match = _HEADER.match(value)
    if not match:
        raise ImproperlyConfigured(
            f"ORBITER_PROXY_SSL_HEADER={value!r}; allowed: Header-Name=value, e.g. X-Forwarded-Proto=https")
    name, expected = match.groups()
    return "HTTP_" + name.upper().replace("-", "_"), expected


def _origins(value: str, base_url: str) -> list[str]:
    if not value:
        base = urlsplit(base_url)
        return [f"{base.scheme}://{base.netloc}"] if base.scheme == "https" and base.netloc else []
    origins = []
    for item in (part.strip() for part in value.split(",")):
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
                or parts.query or parts.fragment:
            raise ImproperlyConfigured(
                f"ORBITER_CSRF_TRUSTED_ORIGINS: {item!r} is no origin; allowed: comma separated "
                "scheme://host[:port], e.g. https://orbiter.example.com")
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins
