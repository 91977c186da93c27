"""Preflight: the noise filter between a user's request and the fleet.

`check()` raises PreflightRefused with a `code` and a message naming what is wrong, or
returns what the deployment needs (hosts, previous versions). It writes nothing; the
service records the refusal as an Event.
"""

from dataclasses import dataclass

from django.utils import timezone

from orbiter.accounts import roles
from orbiter.artifacts.rpmversion import EVR
from orbiter.catalog import freezes
from orbiter.catalog.models import Application, Artifact, Environment, Host, Pin
from orbiter.catalog.selectors import current_versions, deployable_hosts
from orbiter.common.errors import PreflightRefused, ValidationError
from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from orbiter.deployments.strategy import Strategy, resolve_count


@dataclass
class Checked:
    application: Application
    environment: Environment
    artifact: Artifact
    strategy: Strategy
    hosts: list[Host]
    blocking: Deployment | None  # an active deployment this one would queue behind


def resolve(application: str, environment: str, version: str, *,
            user=None) -> tuple[Application, Environment, Artifact]:
    """The application, environment and build a request names. `user` is who asks, when a
    person does: an unknown environment's refusal then names only those they may view."""
    app = Application.objects.filter(name=application).first()
    if app is None:
        known = ", ".join(Application.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise PreflightRefused("unknown_application", f"unknown application {application!r}; known: {known}")
    env = Environment.objects.filter(name=environment).first()
    if env is None:
        known = ", ".join(_viewable_environment_names(user)) or "none you may see"
        raise PreflightRefused("unknown_environment", f"unknown environment {environment!r}; known: {known}")
    return app, env, find_artifact(app, version)


def _viewable_environment_names(user) -> list[str]:
    environments = Environment.objects.order_by("order", "name")
    if user is not None:
        visible = roles.environments_where(user, "view")
        if visible is not None:
            environments = environments.filter(pk__in=visible)
    return list(environments.values_list("name", flat=True))


def find_artifact(app: Application, version: str) -> Artifact:
    try:
        evr = EVR.parse(version)
    except ValueError as error:
        raise ValidationError(str(error), field="version") from None
    candidates = [
        a for a in Artifact.objects.filter(application=app, version=evr.version, epoch=evr.epoch)
        if not evr.release or a.release == evr.release
    ]
    if len(candidates) != 1:
        newest = sorted(Artifact.objects.filter(application=app), key=lambda a: a.evr, reverse=True)[:5]
        known = ", ".join(a.label for a in newest) or "none"
        what = "ambiguous" if candidates else "unknown"
        raise PreflightRefused(
            f"{what}_artifact",
            f"{what} version {version!r} of {app.name}; give version-release. Newest known: {known}",
        )
    return candidates[0]


def check(
    *,
    application: Application,
    environment: Environment,
    artifact: Artifact,
    strategy: Strategy,
    is_rollback: bool = False,
    queue: bool = False,
    exclude: Deployment | None = None,
    freeze_overridden: bool = False,
) -> Checked:
    hosts = list(deployable_hosts(environment=environment, application=application).order_by("certname"))
    if not hosts:
        raise PreflightRefused(
            "no_hosts", f"no hosts run {application.name} in {environment.name}; add hosts first"
        )

    pins = dict(
Pin.objects.filter(application=application, host__in=hosts).values_list("host_id", "artifact_id")
    )
    if all(pins.get(h.pk) == artifact.pk for h in hosts):
        raise PreflightRefused(
            "already_deployed",
            f"{application.name} {artifact.label} is already pinned on all {len(hosts)} host(s) of {environment.name}",
        )
    if not is_rollback:
        level = current_versions(environment=environment, application_ids=[application.pk]).get(application.pk)
        if level is not None and level.evr > artifact.evr:
            raise PreflightRefused(
                "downgrade",
                f"{artifact.label} is older than {level.label}, already pinned in {environment.name}; "
                "a downgrade must be requested as a rollback",
            )

        refuse_if_stage_skipped(application, environment, artifact)

    blocking = (
        Deployment.objects.filter(application=application, environment=environment, status__in=states.ACTIVE)
        .exclude(pk=exclude.pk if exclude else None)
        .select_related("artifact")
        .order_by("-id")
        .first()
    )
    if blocking and not queue:
        raise PreflightRefused(
            "deployment_in_progress",
            f"deployment #{blocking.pk} of {application.name} {blocking.artifact.label} to {environment.name} "
            f"is {blocking.status} (requested by {blocking.requested_by_name} at "
            f"{blocking.created_at:%Y-%m-%d %H:%M} UTC); wait for it or ask to queue behind it",
            deployment=blocking.pk,
        )

    refuse_if_closed(environment, is_rollback=is_rollback, freeze_overridden=freeze_overridden)

    healthy = sum(1 for h in hosts if h.healthy)
    batch = 1 if strategy.canary else resolve_count(strategy.batch_size, len(hosts), minimum=1)
    if healthy < batch:
        raise PreflightRefused(
            "not_enough_healthy_hosts",
            f"only {healthy} of {len(hosts)} host(s) of {environment.name} are healthy; "
            f"a batch needs {batch}",
        )
    return Checked(application, environment, artifact, strategy, hosts, blocking)


def refuse_if_stage_skipped(application: Application, environment: Environment, artifact: Artifact) -> None:
    """Refuse an artifact that has not passed the pipeline stages before `environment`, unless
    an admin recorded an override for it (docs/pipelines.md, "The promotion guard"). Rollbacks
    are not asked: they restore what already ran there."""
    # Imported here: pipelines builds on deployments (its selectors import this module).
    from orbiter.pipelines.selectors import stage_refusal

    refusal = stage_refusal(application, environment, artifact)
    if refusal is not None:
        raise PreflightRefused(
            "stage_not_passed",
            f"{refusal}; an artifact reaches {environment.name} only through the stages before it "
            "(an admin may override, giving a reason)",
        )


def refuse_if_closed(environment: Environment, *, is_rollback: bool = False, freeze_overridden: bool = False) -> None:
    """Refuse when the environment is locked, or frozen. Rollbacks may go through a freeze, and
    so may a deployment an admin overrode the freeze for (recorded as an Event by the service)."""
    if environment.is_locked:
        raise PreflightRefused(
            "environment_locked",
            f"{environment.name} is locked by {environment.locked_by}: {environment.lock_reason}",
        )
    freeze = active_freeze(environment)
    if freeze and not is_rollback and not freeze_overridden:
        raise PreflightRefused(
            "freeze_window",
            f"{environment.name} is {freeze.describe()}; an admin may override it, giving a reason",
            freeze=freeze.window.pk,
        )


def active_freeze(environment: Environment) -> freezes.OpenFreeze | None:
    """The open freeze window (one-off or weekly) that closes last, with when it closes."""
    return freezes.open_freeze(environment, timezone.now())
