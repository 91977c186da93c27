"""Every write to deployments: the UI, the API, the CLI, CI and the engine all call these."""

from collections import Counter
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Environment
from orbiter.catalog.selectors import active_hosts, deployable_hosts
from orbiter.common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    OrbiterError,
    PreflightRefused,
    ValidationError,
)
from orbiter.deployments import engine, preflight, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.deployments.rows import rows_insert
from orbiter.deployments.strategy import Strategy, make_plan
from orbiter.deployments.transitions import transition_deployment, transition_hosts

# The Event that records an admin's override of a freeze window for one deployment.
FREEZE_OVERRIDE = "deployment.freeze_override"
# The Event that records an admin's rollback without the approval its environment asks for.
APPROVAL_OVERRIDE = "deployment.approval_override"


def deployment_create(
    *,
    application: str,
    environment: str,
    version: str,
    actor: str,
    user=None,
    strategy: dict | None = None,
    queue: bool = False,
    comment: str = "",
    override_freeze: str = "",
) -> Deployment:
    """Check the request and create the deployment (queued, or awaiting approval).

    `override_freeze` is the reason an admin gives to deploy through an open freeze window
    (the caller checked the admin role); the override is recorded as an Event and lets the
    deployment start while that freeze lasts. A refused request leaves nothing behind but
    its `deployment.refused` Event.
    """
    override_freeze = (override_freeze or "").strip()
    try:
        if len(override_freeze) > 500:
            raise ValidationError("override_freeze: the reason is at most 500 characters", field="override_freeze")
        app, env, artifact = preflight.resolve(application, environment, version, user=user)
        parsed = Strategy.parse(strategy, defaults=app.rollout_defaults)
        return _create_checked(app, env, artifact, parsed, actor=actor, user=user, queue=queue, comment=comment,
                               override_freeze=override_freeze)
    except (PreflightRefused, ValidationError) as error:
        Event.objects.create(
            actor=actor,
            verb="deployment.refused",
            object_type="request",
            object_id=f"{application}/{environment}"[:64],
            data={
                "code": getattr(error, "code", "invalid"),
                "message": error.message,
                "application": application,
                "environment": environment,
                "version": version,
            },
        )
        raise


def _create_checked(app: Application, env: Environment, artifact, parsed: Strategy, *, actor: str, user,
                    queue: bool, comment: str, override_freeze: str) -> Deployment:
    """Check and create in one transaction, so that no other request for the application
    slips in between (20 requests at once once created 13 deployments).

    1. Lock the application's row: requests for it take turns (PostgreSQL; SQLite's
       transactions take the one write lock at BEGIN already), so the preflight sees every
       deployment created before it and refuses, or queues behind, the active one.
    2. The database's constraint (models.ONE_WAITING_PER_TARGET) is the backstop: should a
       second unqueued deployment reach the table anyway, its insert fails, and the
       request is checked once more, now seeing the winner.
    """
    options = {"actor": actor, "user": user, "queue": queue, "comment": comment, "override_freeze": override_freeze}
    try:
        return _check_and_insert(app, env, artifact, parsed, **options)
    except IntegrityError:
        # Matched by retrying rather than by the constraint's name: SQLite's message names
        # the columns only. Any other integrity error fails again, and is raised then.
        return _check_and_insert(app, env, artifact, parsed, **options)  # now sees the winner


def _check_and_insert(app: Application, env: Environment, artifact, parsed: Strategy, *, actor: str, user,
                      queue: bool, comment: str, override_freeze: str) -> Deployment:
    with transaction.atomic():
        Application.objects.select_for_update().filter(pk=app.pk).values_list("pk").first()
        checked = preflight.check(
            application=app, environment=env, artifact=artifact, strategy=parsed, queue=queue,
            freeze_overridden=bool(override_freeze),
        )
        frozen = preflight.active_freeze(env) if override_freeze else None
        return _insert(checked, actor=actor, user=user, comment=comment, frozen=frozen,
                       override_freeze=override_freeze)


def _insert(checked: preflight.Checked, *, actor: str, user, comment: str, frozen, override_freeze: str) -> Deployment:
    env, artifact, parsed = checked.environment, checked.artifact, checked.strategy
    deployment = Deployment.objects.create(
        application=checked.application,
        environment=env,
        artifact=artifact,
        requested_by=user,
        requested_by_name=actor,
        comment=comment,
        strategy=parsed.as_dict(),
        queued_behind=checked.blocking,
    )
    Event.objects.create(
        actor=actor,
        verb="deployment.request",
        object_type="deployment",
        object_id=str(deployment.pk),
        after=states.PENDING,
        deployment_id=deployment.pk,
        data={"version": artifact.label, "environment": env.name, "strategy": parsed.as_dict()},
    )
    if frozen is not None:
        Event.objects.create(
            actor=actor, verb=FREEZE_OVERRIDE, object_type="deployment", object_id=str(deployment.pk),
            deployment_id=deployment.pk,
            data={"reason": override_freeze, "freeze": frozen.window.pk, "freeze_reason": frozen.reason,
                  "frozen_until": frozen.until.isoformat()},
        )
    if env.requires_approval:
        _require_approval(deployment, env, actor)
    else:
        _accept(deployment, actor)
    return deployment


def _require_approval(deployment: Deployment, env: Environment, actor: str) -> None:
    needed = max(1, env.min_approvals)
    transition_deployment(
        deployment, "require_approval", actor=actor,
        message="waiting for approval" if needed == 1 else f"waiting for {needed} approvals",
    )


def _accept(deployment: Deployment, actor: str) -> None:
    message = f"queued behind #{deployment.queued_behind_id}" if deployment.queued_behind_id else "queued"
    transition_deployment(deployment, "accept", actor=actor, message=message)
    engine.wake(deployment.pk)


def deployment_approve(*, deployment_id: int, actor: str, user=None, comment: str = "") -> Deployment:
    """Record `actor`'s approval; the deployment is accepted once its environment's
    `min_approvals` distinct people other than the requester have approved."""
    from orbiter.accounts.models import DeploymentApproval

    with transaction.atomic():
        deployment = _locked(deployment_id)
        states.target("deployment", deployment.status, "approve")  # a clear refusal when not awaiting approval
        own = actor == deployment.requested_by_name or (
            user is not None and user.pk is not None and user.pk == deployment.requested_by_id
        )
        if own:
            raise Forbidden(
                f"{actor} requested deployment #{deployment.pk} and cannot approve it; ask someone else",
                deployment=deployment.pk,
            )
        approvers = list(
            DeploymentApproval.objects.filter(deployment=deployment).values_list("approver_name", flat=True)
        )
        if actor in approvers:
            raise Conflict(f"{actor} already approved deployment #{deployment.pk}", deployment=deployment.pk)
        DeploymentApproval.objects.create(
            deployment=deployment, approver=user if user is not None and user.pk else None,
            approver_name=actor, comment=comment,
        )
        approvers.append(actor)
        needed = max(1, deployment.environment.min_approvals)
        Event.objects.create(
            actor=actor, verb="deployment.approval", object_type="deployment", object_id=str(deployment.pk),
            deployment_id=deployment.pk,
            data={"approvals": len(approvers), "needed": needed, "comment": comment},
        )
        if len(approvers) < needed:
            deployment.message = (
                f"{len(approvers)} of {needed} approvals ({', '.join(approvers)}); "
                f"waiting for {needed - len(approvers)} more"
            )
            Deployment.objects.filter(pk=deployment.pk).update(message=deployment.message)
            return deployment
        transition_deployment(deployment, "approve", actor=actor, message=f"approved by {', '.join(approvers)}")
        engine.wake(deployment.pk)
    return deployment


def deployment_reject(*, deployment_id: int, actor: str, reason: str = "") -> Deployment:
    with transaction.atomic():
        deployment = _locked(deployment_id)
        transition_deployment(
            deployment, "reject", actor=actor, message=f"rejected by {actor}" + (f": {reason}" if reason else "")
        )
        engine.wake_followers(deployment)
    return deployment


WAIT_RECHECK_SECONDS = 5


def deployment_start_if_ready(deployment: Deployment, *, now: datetime) -> datetime | None:
    """Start a queued deployment when its turn has come: freeze the plan, create its hosts.

    Called by the engine with the deployment row locked. Waits (with a message saying
    why) while another deployment of the application holds the environment, or the
    environment is locked or frozen; returns when to look again, if the engine should.
    """
    same_target = Deployment.objects.filter(
        application_id=deployment.application_id, environment_id=deployment.environment_id
    ).exclude(pk__in=[deployment.pk, deployment.rollback_of_id or 0])
    ahead = (
        same_target.filter(
            Q(status__in=[states.RUNNING, states.PAUSED, states.ROLLING_BACK])
            | Q(status=states.QUEUED, pk__lt=deployment.pk)
        )
        .order_by("id")
        .first()
    )
    if ahead is not None:
        deployment.message = f"queued behind #{ahead.pk} ({ahead.status}, requested by {ahead.requested_by_name})"
        return None  # woken when #ahead finishes
    try:
        overridden = Event.objects.filter(deployment_id=deployment.pk, verb=FREEZE_OVERRIDE).exists()
        preflight.refuse_if_closed(deployment.environment, is_rollback=deployment.is_rollback,
                                   freeze_overridden=overridden)
    except PreflightRefused as refusal:
        deployment.message = f"waiting: {refusal.message}"
        return now + timezone.timedelta(seconds=WAIT_RECHECK_SECONDS)

    strategy = Strategy(**deployment.strategy)
    targets = _targets(deployment)
    plan = make_plan([host_id for host_id, _ in targets], strategy)
    batch_of = {host_id: index for index, batch in enumerate(plan) for host_id in batch}
    rows_insert(HostDeployment, [  # every other column takes its model default
        {"deployment_id": deployment.pk, "host_id": host_id, "batch": batch_of[host_id], "target_artifact_id": artifact_id}
        for host_id, artifact_id in targets
    ])
    transition_deployment(
        deployment,
        "start",
        actor=engine.ACTOR,
        plan=plan,
        current_batch=-1,
        message=f"{len(targets)} host(s) in {len(plan)} batch(es)",
        data={"plan": plan},
    )
    return None


def _targets(deployment: Deployment) -> list[tuple[int, int]]:
    """(host id, target artifact id) in rollout order."""
    if deployment.is_rollback:
        return list(
            HostDeployment.objects.filter(
                deployment_id=deployment.rollback_of_id, pin_moved=True, previous_artifact__isnull=False,
                host__in=active_hosts(),
            )
            .order_by("host__certname")
            .values_list("host_id", "previous_artifact_id")
        )
    hosts = deployable_hosts(environment=deployment.environment, application=deployment.application)
    return [(pk, deployment.artifact_id) for pk in hosts.order_by("certname").values_list("pk", flat=True)]


def deployment_pause(*, deployment_id: int, actor: str) -> Deployment:
    with transaction.atomic():
        deployment = _locked(deployment_id)
        transition_deployment(
            deployment, "pause", actor=actor,
            message=f"paused by {actor}; hosts in flight finish their steps, no new ones start",
        )
    return deployment


def deployment_resume(*, deployment_id: int, actor: str) -> Deployment:
    with transaction.atomic():
        deployment = _locked(deployment_id)
        transition_deployment(deployment, "resume", actor=actor, message=f"resumed by {actor}")
        engine.wake(deployment.pk)
    return deployment


def deployment_cancel(*, deployment_id: int, actor: str) -> Deployment:
    """Cancel. Hosts in flight finish their step safely and go back in service; the rest are skipped."""
    with transaction.atomic():
        deployment = _locked(deployment_id)
        if deployment.status in (states.AWAITING_APPROVAL, states.QUEUED):
            transition_deployment(deployment, "cancel", actor=actor, message=f"cancelled by {actor}")
            engine.wake_followers(deployment)
            return deployment
        if deployment.status not in (states.RUNNING, states.PAUSED):
            states.target("deployment", deployment.status, "cancel")  # raises the clear error
        if not deployment.cancel_requested:
            Deployment.objects.filter(pk=deployment.pk).update(
                cancel_requested=True, message=f"cancelling (asked by {actor}): hosts in flight are finishing"
            )
            Event.objects.create(
                actor=actor, verb="deployment.cancel_requested", object_type="deployment",
                object_id=str(deployment.pk), before=deployment.status, after=deployment.status,
                deployment_id=deployment.pk,
            )
            deployment.cancel_requested = True
        engine.wake(deployment.pk)
    return deployment


def deployment_retry(*, deployment_id: int, actor: str) -> Deployment:
    """Give the failed and skipped hosts another round; a failed deployment runs again."""
    with transaction.atomic():
        deployment = _locked(deployment_id)
        if deployment.status not in (states.FAILED, states.RUNNING, states.PAUSED) or deployment.cancel_requested:
            raise OrbiterError(
                f"deployment #{deployment.pk} is {deployment.status}; only a failed, running or paused "
                "deployment can retry its failed hosts"
            )
        if deployment.status == states.FAILED:
            _refuse_if_superseded(deployment, "retry")
        hosts = list(
            HostDeployment.objects.filter(deployment=deployment, status__in=[states.H_FAILED, states.SKIPPED],
                                          host__in=active_hosts())
            .select_related("host")
        )
        if not hosts:
            raise OrbiterError(f"deployment #{deployment.pk} has no failed or skipped hosts to retry")
        for round_, group in _by_round(hosts).items():
            transition_hosts(
                group, "retry", actor=actor, round=round_ + 1, attempt=1, outcome=None,
                action_issued_at=None, not_before=None, resent=False, error="", finished_at=None,
            )
        if deployment.status == states.FAILED:
            transition_deployment(
                deployment, "retry", actor=actor, message=f"retrying {len(hosts)} host(s) (asked by {actor})"
            )
        engine.wake(deployment.pk)
    return deployment


def _by_round(hosts: list[HostDeployment]) -> dict[int, list[HostDeployment]]:
    groups: dict[int, list[HostDeployment]] = {}
    for hd in hosts:
        groups.setdefault(hd.round, []).append(hd)
    return groups


def deployment_rollback(*, deployment: Deployment | None = None, deployment_id: int | None = None,
                        actor: str, reason: str = "", user=None, override_approval: str = "") -> Deployment:
    """Roll back: a new deployment (flagged rollback) moves every pin this one moved back to
    its previous artifact and converges those hosts. Returns the rollback deployment.

    A rollback changes what runs in the environment like any deployment: where those need
    approval, it waits for approval too (never from whoever asked for it), unless
    - `override_approval` gives an admin's reason (the caller checked the admin role); it
      is recorded as an APPROVAL_OVERRIDE Event on the rollback, or
    - it is the automatic rollback the deployment's strategy asked for: the engine's own
      call, the only one passing the locked `deployment` row. That strategy was approved
      with the deployment.
    """
    override_approval = (override_approval or "").strip()
    if len(override_approval) > 500:
        raise ValidationError("override_approval: the reason is at most 500 characters", field="override_approval")
    automatic = deployment is not None and actor == engine.ACTOR and bool(deployment.strategy.get("auto_rollback"))
    with transaction.atomic():
        parent = deployment if deployment is not None else _locked(deployment_id)
        states.target("deployment", parent.status, "rollback")  # refuses clearly when not allowed
        _refuse_if_superseded(parent, "roll back")
        busy = HostDeployment.objects.filter(deployment=parent, status__in=states.IN_FLIGHT).count()
        if busy:
            raise OrbiterError(
                f"{busy} host(s) of #{parent.pk} are still in flight; pause or cancel it, wait for them, then roll back"
            )
        previous = Counter(
            HostDeployment.objects.filter(deployment=parent, pin_moved=True, previous_artifact__isnull=False)
            .values_list("previous_artifact_id", flat=True)
        )
        if not previous:
            raise OrbiterError(f"deployment #{parent.pk} moved no pin from an earlier version: nothing to roll back")
        strategy = {**parent.strategy, "canary": False, "canary_pause": False,
                    "pause_between_batches": "0", "auto_rollback": False}
        # Hosts whose turn never came stay as they are: they are skipped, not left pending.
        untouched = list(HostDeployment.objects.filter(deployment=parent, status=states.H_PENDING).select_related("host"))
        transition_hosts(untouched, "skip", actor=actor, error="deployment rolled back before this host's turn")
        transition_deployment(parent, "rollback", actor=actor, message=reason or f"rolling back (asked by {actor})")
        child = Deployment.objects.create(
            application_id=parent.application_id,
            environment_id=parent.environment_id,
            artifact_id=previous.most_common(1)[0][0],
            requested_by=user if user is not None and user.pk else None,
            requested_by_name=actor,
            comment=reason,
            is_rollback=True,
            rollback_of=parent,
            strategy=strategy,
        )
        Event.objects.create(
            actor=actor, verb="deployment.request", object_type="deployment", object_id=str(child.pk),
            after=states.PENDING, deployment_id=child.pk, data={"rollback_of": parent.pk},
        )
        env = parent.environment
        if env.requires_approval and override_approval:
            Event.objects.create(
                actor=actor, verb=APPROVAL_OVERRIDE, object_type="deployment", object_id=str(child.pk),
                deployment_id=child.pk, data={"reason": override_approval, "rollback_of": parent.pk},
            )
        if env.requires_approval and not override_approval and not automatic:
            _require_approval(child, env, actor)
        else:
            _accept(child, actor)
    return child


def _refuse_if_superseded(deployment: Deployment, what: str) -> None:
    """Refuse to act on a deployment when a later one of the same application and
    environment has started since: its hosts already moved on."""
    later = (
        Deployment.objects.filter(
            application_id=deployment.application_id,
            environment_id=deployment.environment_id,
            pk__gt=deployment.pk,
            started_at__isnull=False,
        )
        .exclude(rollback_of=deployment)
        .order_by("-id")
        .first()
    )
    if later is not None:
        raise OrbiterError(
            f"cannot {what} #{deployment.pk}: deployment #{later.pk} of the same application and environment "
            f"started after it ({later.status}); act on #{later.pk} or deploy the version you want",
            deployment=later.pk,
        )


def _locked(deployment_id: int) -> Deployment:
    deployment = (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("application", "environment", "artifact")
        .filter(pk=deployment_id)
        .first()
    )
    if deployment is None:
        raise NotFound(f"deployment #{deployment_id} does not exist")
    return deployment


def deployments_sweep(*, now: datetime | None = None, limit: int = 500,
                      stale_seconds: float | None = None) -> list[int]:
    """Deployments the engine should look at now: a deadline or timer is due, or nobody
    advanced them for `stale_seconds` (default ORBITER_STALE_SECONDS: a worker died, a
    message was lost; 0: every active deployment, after the broker lost its messages)."""
    from django.conf import settings
    from django.db.models import Q

    now = now or timezone.now()
    stale_seconds = settings.ORBITER_STALE_SECONDS if stale_seconds is None else stale_seconds
    stale = now - timezone.timedelta(seconds=stale_seconds)
    due = (
        Deployment.objects.filter(status__in=[states.QUEUED, states.RUNNING, states.PAUSED, states.ROLLING_BACK])
        .filter(Q(wake_at__lte=now) | Q(advanced_at__lt=stale) | Q(advanced_at__isnull=True))
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    return list(due)
