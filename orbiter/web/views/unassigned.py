"""Unassigned hosts: agents that enrolled under a certname no host has, for admins of all
environments to assign (create the host) or reject. The services are catalog/unassigned.py."""

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse

from orbiter.accounts import roles
from orbiter.catalog import unassigned
from orbiter.catalog.models import Application, Environment
from orbiter.common.errors import ValidationError
from orbiter.web.views.common import action, page

WHAT = "see or decide on unassigned hosts"


@page
def unassigned_hosts(request, access):
    roles.require_admin_everywhere(request.user, WHAT)
    rows = unassigned.unassigned_list()
    return render(request, "web/unassigned.html", {
        "waiting": [row for row in rows if row.rejected_at is None],
        "rejected": [row for row in rows if row.rejected_at is not None],
        "environments": Environment.objects.order_by("order", "name"),
        "applications": Application.objects.order_by("name"),
        "cap": unassigned.CAP,
    })


@action(fallback=lambda **_: reverse("unassigned-hosts"))
def unassigned_assign(request, access, certname: str):
    roles.require_admin_everywhere(request.user, WHAT)
    host = unassigned.unassigned_assign(certname=certname, environment=request.POST.get("environment", ""),
                                        applications=request.POST.getlist("applications"),
                                        labels=_labels(request.POST.get("labels", "")),
                                        expected_fingerprint=request.POST.get("fingerprint", ""),
                                        actor=request.user.get_username())
    host.refresh_from_db()
    key = "its agent key is trusted" if host.agent_public_key else (
        "its agent key waits for approval: `orbiter agents approve` with the fingerprint read on the host")
    messages.success(request, f"{certname} joined {host.environment}; {key}")
    return reverse("unassigned-hosts")


@action(fallback=lambda **_: reverse("unassigned-hosts"))
def unassigned_reject(request, access, certname: str):
    roles.require_admin_everywhere(request.user, WHAT)
    unassigned.unassigned_reject(certname=certname, actor=request.user.get_username())
    return reverse("unassigned-hosts")


@action(fallback=lambda **_: reverse("unassigned-hosts"))
def unassigned_unreject(request, access, certname: str):
    roles.require_admin_everywhere(request.user, WHAT)
    unassigned.unassigned_unreject(certname=certname, actor=request.user.get_username())
    return reverse("unassigned-hosts")


def _labels(text: str) -> dict[str, str]:
    """'rack=b2 dc=par1' -> {"rack": "b2", "dc": "par1"}."""
    labels = {}
    for pair in text.split():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"labels: {pair!r} is not key=value, e.g. rack=b2 dc=par1", field="labels")
        labels[key] = value
    return labels
