"""Throttled sign-in: too many failures for one account, or from one client address, lock
further attempts out for a cool-off (django-axes, its attempts kept in the database so every
web process shares them). Password sign-in (local accounts, LDAP), the admin's sign-in, the
OIDC callback and API tokens all count; a success resets the account's count.

Each lockout is one audit Event (`signin.locked_out`), written when it starts: an attacker
who keeps knocking on a locked door adds rows to axes' failure log, not to the audit trail.
"""

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import render

from orbiter.audit.middleware import client_ip
from orbiter.audit.services import event_record

USERNAME = "username"


class SignInThrottle(AxesStandaloneBackend):
    """First of AUTHENTICATION_BACKENDS: refuses every sign-in while its account or its
    client address is locked out, before any password is checked.

    A sign-in without a request did not come over HTTP (a shell, the test client's
    login()): nothing to throttle there, and axes' own backend would raise instead."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_parameters(request, credentials) -> list[str]:
    """What failures are counted by (AXES_LOCKOUT_PARAMETERS): the account and, separately,
    the client address; an attempt naming no account (an API token, an OIDC callback)
    counts only against its address — not against one shared "no account" bucket."""
    if (credentials or {}).get(USERNAME):
        return [USERNAME, "ip_address"]
    return ["ip_address"]


def client_address(request) -> str | None:
    """The address failures are counted by: the audit trail's (ORBITER_TRUSTED_PROXIES)."""
    return client_ip(request)


def cool_off_seconds(request=None) -> int:
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def lockout_message() -> str:
    minutes = max(1, round(cool_off_seconds() / 60))
    return (f"Too many failed sign-in attempts for this account or from this address: "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}.")


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out client gets (AXES_LOCKOUT_CALLABLE): 429 with Retry-After, in the
    API's error shape under /api/, else the sign-in page saying why."""
    if request.path.startswith("/api/"):
        from orbiter.api.errors import body

        response = JsonResponse(body("throttled", lockout_message()), status=429)
    else:
        response = render(request, "web/login.html", {
            "locked_out": lockout_message(),
            "next": request.POST.get("next", "") if request.method == "POST" else "",
            "oidc": "oidc" in getattr(settings, "ORBITER_AUTH_METHODS", ()),
        }, status=429)
    response["Retry-After"] = str(cool_off_seconds(request))
    return response


def token_refused(request) -> bool:
    """True while this client address is locked out: its API token is not even looked at."""
    return not AxesProxyHandler.is_allowed(request, {})


def token_failed(request, token: str) -> None:
    """Count one unknown, expired or revoked API token against the client's address."""
    user_login_failed.send(sender=__name__, credentials={"token": token[:10]}, request=request)


@receiver(user_locked_out)
def record_lockout(sender, request, username, ip_address, **kwargs):
    # axes sends this on the failure that starts a lockout (it then counted the failures)
    # and again on each attempt refused during one (it counted nothing): only the first is
    # news for the audit trail.
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    account = (username or "")[:64]
    event_record(
        actor=(username or "anonymous")[:150],
        verb="signin.locked_out",
        obj=("user", account) if account else ("client", ip_address or "unknown"),
        after="locked_out",
        data={"username": username, "ip_address": ip_address, "failures": failures,
              "path": request.path[:200], "cool_off_s": cool_off_seconds(request)},
    )
