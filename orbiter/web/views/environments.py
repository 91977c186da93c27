"""Environments (protection, lock, freeze, host health) and each one's hosts with drift."""

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from orbiter.catalog import freezes
from orbiter.catalog import selectors as catalog_selectors
from orbiter.catalog import services as catalog_services
from orbiter.catalog.models import Environment, FreezeWindow, Host
from orbiter.web.views.common import action, page


@page
def environments(request, access):
    visible = access.environments("view")
    counts = {
        row["environment_id"]: row
        for row in Host.objects.filter(environment__in=visible).values("environment_id").annotate(
            hosts=Count("id"), unhealthy=Count("id", filter=Q(healthy=False))
        )
    }
    now = timezone.now()
    windows: dict[int, list[FreezeWindow]] = {}
    upcoming = FreezeWindow.objects.filter(environment__in=visible).filter(
        Q(kind=FreezeWindow.WEEKLY) | Q(ends_at__gt=now)
    )
    for window in upcoming.order_by("starts_at", "id"):
        windows.setdefault(window.environment_id, []).append(window)
    rows = [
        {
            "env": env,
            "hosts": counts.get(env.pk, {}).get("hosts", 0),
            "unhealthy": counts.get(env.pk, {}).get("unhealthy", 0),
            "freezes": [_describe(w) for w in windows.get(env.pk, [])],
            "open_freeze": _open(env, windows.get(env.pk, []), now),
            "role": access.role(env),
            "may_lock": access.can("lock", env),
            "may_unlock": access.can("unlock", env),
        }
        for env in visible
    ]
    return render(request, "web/environments.html", {"rows": rows})


def _describe(window: FreezeWindow) -> str:
    if window.kind == FreezeWindow.WEEKLY:
        return (f"every {', '.join(window.weekdays)} {window.start_time:%H:%M}–{window.end_time:%H:%M} "
                f"{window.timezone}: {window.reason}")
    return f"{window.starts_at:%Y-%m-%d %H:%M} → {window.ends_at:%Y-%m-%d %H:%M} UTC: {window.reason}"


def _open(env: Environment, windows: list[FreezeWindow], now) -> str:
    """'frozen until … UTC: reason' when one of the windows is open now, else ''."""
    found = [o for w in windows if (o := freezes.open_at(w, now))]
    return max(found, key=lambda o: o.until).describe() if found else ""


@page
def environment(request, access, name: str):
    env = get_object_or_404(Environment, name=name)
    access.require("view", env)
    versions: dict[str, list] = {}
    for hv in catalog_selectors.host_versions(environment=env.name):
        versions.setdefault(hv.certname, []).append(hv)
    hosts = [(host, versions.get(host.certname, [])) for host in env.hosts.order_by("certname")]
    return render(request, "web/environment.html", {
        "env": env,
        "hosts": hosts,
        "drifted": sum(1 for _, vs in hosts if any(v.drift for v in vs)),
        "may_lock": access.can("lock", env),
        "may_unlock": access.can("unlock", env),
    })


@action
def environment_lock(request, access, name: str):
    env = get_object_or_404(Environment, name=name)
    access.require("lock", env)
    catalog_services.environment_lock(environment=env, reason=request.POST.get("reason", ""),
                                      actor=request.user.get_username())
    return reverse("environments")


@action
def environment_unlock(request, access, name: str):
    env = get_object_or_404(Environment, name=name)
    access.require("unlock", env)
    catalog_services.environment_unlock(environment=env, actor=request.user.get_username())
    return reverse("environments")
