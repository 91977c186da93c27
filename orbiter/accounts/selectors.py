"""Reads about approvals: the inbox of someone who may approve, and who approved what."""

from orbiter.accounts import roles
from orbiter.accounts.models import DeploymentApproval
from orbiter.deployments import states
from orbiter.deployments.models import Deployment


def approvals_inbox(user):
    """Deployments awaiting approval that `user` may approve: in an environment where they
    hold the approver role, not requested by them, not yet approved by them. Oldest first."""
    env_ids = roles.environments_where(user, "approve")
    pending = (
        Deployment.objects.filter(status=states.AWAITING_APPROVAL)
        .select_related("application", "environment", "artifact")
        .exclude(requested_by_name=user.get_username())
        .exclude(approvals__approver_name=user.get_username())
        .order_by("id")
    )
    if user.pk is not None:
        pending = pending.exclude(requested_by_id=user.pk)
    if env_ids is not None:
        pending = pending.filter(environment_id__in=env_ids)
    token = getattr(user, roles.TOKEN_ATTRIBUTE, None)
    if token is not None and token.application_ids:
        pending = pending.filter(application_id__in=token.application_ids)
    return pending


def approvers_of(deployment_ids) -> dict[int, list[str]]:
    """{deployment id: [approver names in order]}."""
    out: dict[int, list[str]] = {}
    rows = DeploymentApproval.objects.filter(deployment_id__in=list(deployment_ids)).order_by("id")
    for deployment_id, name in rows.values_list("deployment_id", "approver_name"):
        out.setdefault(deployment_id, []).append(name)
    return out
