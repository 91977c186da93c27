"""What every page shares: sign-in, the 403 page, and turning a service's refusal into a
message the user reads on the page they came from."""

import functools
import logging
import time
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LoginView, redirect_to_login
from django.db import DatabaseError, connection
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from orbiter.common.errors import Forbidden, OrbiterError
from orbiter.core import liveness
from orbiter.web.access import access_for, forbidden

log = logging.getLogger("orbiter.web")


def page(view):
    """A page: signed-in users only; a Forbidden raised inside renders the 403 page.

    An htmx request from a page whose session ended (a poll, a preview) is told to load
    the sign-in page as a whole rather than have it swapped into a corner of the page."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.headers.get("HX-Request"):
                current = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
                return HttpResponse(status=204, headers={"HX-Redirect": f"{resolve_url(settings.LOGIN_URL)}?next={quote(current)}"})
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, access_for(request), *args, **kwargs)
        except Forbidden as refusal:
            return forbidden(request, refusal.message)

    return wrapper


def action(view=None, *, fallback=None):
    """A POST that changes something: signed-in, CSRF-checked (middleware), the 403 page
    when the role does not allow it, and a service's refusal shown as a message on the page
    the form came from (its `next` field, else `fallback(**url kwargs)`, else the dashboard).
    The view returns the URL to go to on success."""

    def decorate(view):
        @require_POST
        @page
        @functools.wraps(view)
        def wrapper(request, access, *args, **kwargs):
            try:
                target = view(request, access, *args, **kwargs)
            except Forbidden:
                raise
            except OrbiterError as refusal:
                messages.error(request, refusal.message)
                target = back(request, fallback(**kwargs) if fallback else "/")
            return HttpResponseRedirect(target)

        return wrapper

    return decorate(view) if view is not None else decorate


def back(request, default: str = "/") -> str:
    """The page a form came from (its `next` field) when that is a path on this site."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                      require_https=request.is_secure()):
        return candidate
    return default


class SignIn(LoginView):
    """Django's sign-in (local users, and LDAP when configured), plus a single sign-on
    button when OpenID Connect is switched on."""

    template_name = "web/login.html"
    next_page = "/"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["oidc"] = "oidc" in getattr(settings, "ORBITER_AUTH_METHODS", ())
        return context


def healthz(request):
    """For a load balancer and a monitor, no sign-in: 503 when the database cannot be
    reached (this web process can serve nothing); else 200 with the liveness of the
    scheduler, the workers and the reply listeners (orbiter/core/liveness.py) and a status:
    ok, or degraded when one of them stopped beating (or no scheduler or worker ever did)."""
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
        processes = liveness.report()
    except DatabaseError as error:
        log.error("healthz: the database cannot be reached: %s", str(error).strip()[:300])
        return JsonResponse({"ok": False, "status": "down", "database": {"ok": False}}, status=503)
    degraded = any(p["state"] == "stale" for p in processes.values()) or any(
        processes[role]["state"] == "absent" for role in ("scheduler", "worker"))
    return JsonResponse({"ok": True, "status": "degraded" if degraded else "ok", "database": database, **processes})
