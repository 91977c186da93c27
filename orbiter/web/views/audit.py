"""The audit trail: every change, who made it, from where; searchable."""

from django.shortcuts import render

from orbiter.common.errors import Forbidden
from orbiter.web import selectors
from orbiter.web.views.common import page

FIELDS = ("actor", "verb", "object", "q")


@page
def audit(request, access):
    if not access.environments("view"):
        raise Forbidden("the audit trail is for users with a role in at least one environment")
    query = {name: request.GET.get(name, "").strip()[:200] for name in FIELDS}
    before = request.GET.get("before", "")
    events = selectors.audit_search(
        actor=query["actor"], verb=query["verb"], obj=query["object"], text=query["q"],
        before=int(before) if before.isdigit() else None,
    )
    return render(request, "web/audit.html", {"events": events, "query": query})
