"""Host sources (PuppetDB queries hosts come from): each one's hosts and last sync, and a
"Sync now" (or dry run) for admins of its environment, showing the diff."""

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse

from orbiter.accounts import roles
from orbiter.common.errors import Forbidden
from orbiter.inventory import render as diff_render
from orbiter.inventory import selectors
from orbiter.inventory.sync import source_sync
from orbiter.web.views.common import action, page


@page
def host_sources(request, access):
    rows = [{"source": source, "may_sync": _may_sync(access, source.environment)}
            for source in selectors.sources(environment_ids=access.environment_ids("view"))]
    return render(request, "web/host_sources.html", {"rows": rows})


@action(fallback=lambda **kwargs: reverse("host-sources"))
def host_source_sync(request, access, name: str):
    source = selectors.source_get(name, environment_ids=access.environment_ids("view"))
    if not _may_sync(access, source.environment):
        raise Forbidden(f"{request.user.get_username()} may not sync host source {source.name}: needs the admin "
                        f"role in {source.environment.name}, has {access.role(source.environment) or 'none'}")
    diff = source_sync(source, actor=request.user.get_username(), dry_run=request.POST.get("dry_run") == "1")
    for line in diff_render.diff_lines(diff.as_dict()):
        messages.info(request, line)
    return reverse("host-sources")


def _may_sync(access, environment) -> bool:
    return roles.includes(access.role(environment), roles.ADMIN)
