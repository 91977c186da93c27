"""One deployment, live: header and controls, host × step grid, timeline; the actions a
role allows (each a POST); the history of all deployments."""

from django.db.models import Exists, OuterRef
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from orbiter.accounts import roles
from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Environment
from orbiter.common.errors import Forbidden
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.web import grid, selectors
from orbiter.web.views.common import action, back, page

# The controls, in the order shown: (action = role action, label, statuses it applies to).
CONTROLS = (
    ("approve", "Approve", {states.AWAITING_APPROVAL}),
    ("reject", "Reject", {states.AWAITING_APPROVAL}),
    ("pause", "Pause", {states.RUNNING}),
    ("resume", "Resume", {states.PAUSED}),
    ("retry", "Retry failed hosts", {states.FAILED, states.RUNNING, states.PAUSED}),
    ("cancel", "Cancel", {states.AWAITING_APPROVAL, states.QUEUED, states.RUNNING, states.PAUSED}),
    ("rollback", "Roll back", {states.RUNNING, states.PAUSED, states.FAILED, states.SUCCEEDED, states.CANCELLED}),
)
POLL_SECONDS = 1


def _deployment(access, deployment_id: int) -> Deployment:
    # has_rollbacks: the rollbacks are then read only when there are some (rarely), one query
    # fewer on the live endpoint polled every second.
    deployment = (
        Deployment.objects.select_related("application", "environment", "artifact")
        .annotate(has_rollbacks=Exists(Deployment.objects.filter(rollback_of=OuterRef("pk"))))
        .filter(pk=deployment_id).first()
    )
    if deployment is None:
        raise Http404(f"deployment #{deployment_id} does not exist")
    access.require("view", deployment.environment)
    return deployment


def controls(access, deployment: Deployment, progress: selectors.Progress, user,
             approvers: list[str] = ()) -> list[tuple[str, str]]:
    """The (action, label) pairs this user may use on the deployment as it stands."""
    shown = []
    for name, label, statuses in CONTROLS:
        if deployment.status not in statuses or not access.can(name, deployment.environment):
            continue
        if name == "cancel" and deployment.cancel_requested:
            continue
        if name == "retry" and not (progress.failed or progress.skipped):
            continue
        if name == "rollback" and (progress.in_flight or not (progress.done or progress.failed)
                                   or deployment.is_rollback):
            continue
        if name in ("approve", "reject") and deployment.requested_by_name == user.get_username():
            continue  # four eyes: someone else decides
        if name == "approve" and user.get_username() in approvers:
            continue  # approved already; waiting for others
        shown.append((name, label))
    return shown


def may_roll_back_without_approval(access, deployment: Deployment) -> bool:
    """An admin, where a rollback would wait for approval, may start it at once (with a reason)."""
    return deployment.environment.requires_approval and roles.includes(access.role(deployment.environment),
                                                                       roles.ADMIN)


def _live_context(request, access, deployment: Deployment) -> dict:
    unfold_all = request.GET.get("hosts") == "all"
    hosts = selectors.host_grid(deployment, unfold_all=unfold_all)
    progress = hosts.progress
    live = deployment.status not in states.COMPLETED or deployment.status == states.ROLLING_BACK
    approvers = (list(deployment.approvals.values_list("approver_name", flat=True))
                 if deployment.status == states.AWAITING_APPROVAL else [])
    return {
        "d": deployment,
        "progress": progress,
        "batches": len(deployment.plan or []),
        "grid": grid.render_grid(hosts.batches, hosts.rows, reverse("deployment-host", args=[deployment.pk, 0])),
        "folded": hosts.folded,
        "unfold_all": unfold_all,
        "step_titles": grid.STEP_TITLES,
        "timeline": grid.render_timeline(selectors.timeline(deployment)),
        "controls": controls(access, deployment, progress, request.user, approvers),
        "may_roll_back_without_approval": may_roll_back_without_approval(access, deployment),
        "approvers": approvers,
        "approvals_needed": max(1, deployment.environment.min_approvals),
        "live": live,
        "poll_seconds": POLL_SECONDS,
        "rollbacks": list(deployment.rollbacks.values_list("pk", "status")) if deployment.has_rollbacks else [],
    }


@page
def deployment_page(request, access, deployment_id: int):
    deployment = _deployment(access, deployment_id)
    return render(request, "web/deployment.html", _live_context(request, access, deployment))


@page
def deployment_live(request, access, deployment_id: int):
    """The part of the deployment page that changes; polled while the deployment moves."""
    deployment = _deployment(access, deployment_id)
    return render(request, "web/partials/deployment_live.html", _live_context(request, access, deployment))


@page
def deployment_host(request, access, deployment_id: int, host_deployment_id: int):
    """One host of the deployment: Puppet summary, log tail, error, its events."""
    deployment = _deployment(access, deployment_id)
    hd = get_object_or_404(HostDeployment.objects.select_related("host", "target_artifact", "previous_artifact"),
                           pk=host_deployment_id, deployment=deployment)
    events = Event.objects.filter(deployment_id=deployment.pk, object_type="hostdeployment",
                                  object_id=str(hd.pk)).order_by("id")
    template = "web/partials/host_detail.html" if request.headers.get("HX-Request") else "web/host_detail.html"
    return render(request, template, {"d": deployment, "hd": hd, "events": events})


def _act(request, access, deployment_id: int, name: str):
    deployment = _deployment(access, deployment_id)
    access.require(name, deployment.environment)
    actor = request.user.get_username()
    if name == "rollback":
        override = request.POST.get("override_approval", "").strip()
        if override and not may_roll_back_without_approval(access, deployment):
            role = access.role(deployment.environment)
            raise Forbidden(f"{actor} may not roll back without approval in {deployment.environment.name}: "
                            f"needs the admin role, " + (f"has {role}" if role else "has no role there"))
        child = services.deployment_rollback(deployment_id=deployment.pk, actor=actor, user=request.user,
                                             reason=request.POST.get("reason", "").strip(),
                                             override_approval=override)
        return reverse("deployment", args=[child.pk])
    if name == "reject":
        services.deployment_reject(deployment_id=deployment.pk, actor=actor,
                                   reason=request.POST.get("reason", "").strip())
    elif name == "approve":
        services.deployment_approve(deployment_id=deployment.pk, actor=actor, user=request.user,
                                    comment=request.POST.get("comment", "").strip())
    else:
        operation = {
            "pause": services.deployment_pause,
            "resume": services.deployment_resume, "cancel": services.deployment_cancel,
            "retry": services.deployment_retry,
        }[name]
        operation(deployment_id=deployment.pk, actor=actor)
    return back(request, reverse("deployment", args=[deployment.pk]))


ACTIONS = frozenset(name for name, _, _ in CONTROLS)


@action(fallback=lambda deployment_id, **_: reverse("deployment", args=[deployment_id]))
def deployment_action(request, access, deployment_id: int, name: str):
    if name not in ACTIONS:
        raise Http404(f"unknown action {name!r}; known: {', '.join(sorted(ACTIONS))}")
    return _act(request, access, deployment_id, name)


@page
def deployments(request, access):
    env_ids = access.environment_ids("view")
    environment = Environment.objects.filter(name=request.GET.get("environment", ""), pk__in=env_ids).first()
    app = Application.objects.filter(name=request.GET.get("application", "")).first()
    status = request.GET.get("status", "")
    if status not in states.DEPLOYMENT_STATUSES:
        status = ""
    before = request.GET.get("before", "")
    history = selectors.deployment_history(
        environment_ids=env_ids, application=app, environment=environment, status=status or None,
        before=int(before) if before.isdigit() else None,
    )
    return render(request, "web/deployments.html", {
        "history": history,
        "environments": access.environments("view"),
        "applications": Application.objects.order_by("name"),
        "statuses": states.DEPLOYMENT_STATUSES,
        "chosen_environment": environment.name if environment else "",
        "chosen_application": app.name if app else "",
        "chosen_status": status,
    })
