"""The approvals inbox: deployments waiting for someone other than their requester."""

from django.shortcuts import render

from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from orbiter.web.views.common import page


@page
def approvals(request, access):
    env_ids = access.environment_ids("approve")
    waiting = list(
        Deployment.objects.filter(status=states.AWAITING_APPROVAL, environment_id__in=env_ids)
        .select_related("application", "environment", "artifact")
        .order_by("id")
    )
    me = request.user.get_username()
    return render(request, "web/approvals.html", {
        "mine": [d for d in waiting if d.requested_by_name == me],
        "theirs": [d for d in waiting if d.requested_by_name != me],
        "may_approve_somewhere": bool(env_ids),
    })
