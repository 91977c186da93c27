"""The audit trail: every change, who made it, from where; searchable. Each user reads the
events of what they may see (`audit.selectors.events_visible_to`)."""

from django import forms
from django.shortcuts import render

from orbiter.common.errors import Forbidden
from orbiter.web import selectors
from orbiter.web.views.common import page

FIELDS = ("actor", "verb", "object", "q")


class AuditSearch(forms.Form):
    """The search fields. Django's CharField refuses NUL characters (PostgreSQL cannot
    compare text with them), so such a search is a 400 naming the field, not a 500."""

    actor = forms.CharField(required=False, max_length=200)
    verb = forms.CharField(required=False, max_length=200)
    object = forms.CharField(required=False, max_length=200)
    q = forms.CharField(required=False, max_length=200)
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


@page
def audit(request, access):
    if not access.environments("view"):
        raise Forbidden("the audit trail is for users with a role in at least one environment")
    search = AuditSearch({name: value[:200] for name, value in request.GET.items() if name in (*FIELDS, "before")})
    if not search.is_valid():
        query = {name: "" for name in FIELDS}
        error = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in search.errors.items())
        return render(request, "web/audit.html", {"events": None, "query": query, "error": error}, status=400)
    query = {name: search.cleaned_data[name] for name in FIELDS}
    events = selectors.audit_search(
        user=request.user, actor=query["actor"], verb=query["verb"], obj=query["object"], text=query["q"],
        before=search.cleaned_data["before"],
    )
    return render(request, "web/audit.html", {"events": events, "query": query})
