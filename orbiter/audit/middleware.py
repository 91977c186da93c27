"""Sets the audit context (the client's IP) for every request; see audit/context.py."""

import ipaddress

from django.conf import settings

from orbiter.audit.context import source_ip


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with source_ip(client_ip(request)):
            return self.get_response(request)


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or — when that is one of ORBITER_TRUSTED_PROXIES — the nearest address in
    X-Forwarded-For that is not a trusted proxy. A header from anyone else is ignored: a client
    cannot choose the address the audit trail records."""
    remote = _ip(request.META.get("REMOTE_ADDR", ""))
    trusted = set(getattr(settings, "ORBITER_TRUSTED_PROXIES", ()))
    if remote is None or remote not in trusted:
        return remote
    hops = [_ip(part) for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed(hops):
        if hop is None:
            return remote  # a malformed header: trust only what we saw
        if hop not in trusted:
            return hop
    return remote


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
