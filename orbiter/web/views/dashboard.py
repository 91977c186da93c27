"""The dashboard: what runs where, and what is moving now."""

from django.shortcuts import render

from orbiter.deployments import states
from orbiter.web import matrix, selectors
from orbiter.web.views.common import page


@page
def dashboard(request, access):
    environments = access.environments("view")
    env_ids = [e.pk for e in environments]
    active = selectors.active_deployments(env_ids)
    versions = selectors.version_matrix(environments)
    return render(request, "web/dashboard.html", {
        "environments": environments,
        "matrix": bool(versions),
        "matrix_rows": matrix.render_rows(versions),
        "active": _with_progress(active),
        "recent": selectors.deployment_history(environment_ids=env_ids, size=10).items,
        "awaiting": sum(1 for d in active if d.status == states.AWAITING_APPROVAL
                        and access.can("approve", d.environment)),
    })


@page
def active_partial(request, access):
    """The active deployments with their progress bars (the dashboard polls it)."""
    active = selectors.active_deployments(access.environment_ids("view"))
    return render(request, "web/partials/active.html", {"active": _with_progress(active)})


def _with_progress(deployments):
    progress = selectors.progress([d.pk for d in deployments])
    return [(d, progress[d.pk]) for d in deployments]
