"""Writes to the catalog: applications, environments, hosts, artifacts, the demo fleet."""

import logging

from django.db import transaction
from django.utils import timezone

from orbiter.artifacts.rpmversion import NEVRA, validate_package_name
from orbiter.audit.services import event_record
from orbiter.catalog import freezes, signals
from orbiter.catalog.models import Application, Artifact, Environment, FreezeWindow, Host
from orbiter.common import validators
from orbiter.common.errors import Conflict, NotFound, ValidationError
from orbiter.loadbalancers.models import Pool, PoolMember

log = logging.getLogger("orbiter.catalog")


def application_create(*, name: str, package: str, actor: str, **fields) -> Application:
    validators.slug("name", name)
    try:
        validate_package_name(package)
    except ValueError as error:
        raise ValidationError(str(error), field="package") from None
    from orbiter.converge.base import registry as converge_drivers
    from orbiter.deployments.strategy import Strategy
    from orbiter.health.base import validate_options as validate_health
    from orbiter.puppet.enc import validate_puppet_class

    Strategy.parse({}, defaults=fields.get("rollout_defaults") or {})  # refuses bad defaults now, not at deploy time
    validate_puppet_class(fields.get("puppet_class", ""))
    converge_drivers.get(fields.get("converge_driver", "simulated"))
    # The health check is built once now: a bad option is refused here, naming it, not at
    # the first host's verify step.
    validate_health(fields.get("health_driver", "none"), fields.get("health_options") or {})
    with transaction.atomic():
        app = Application.objects.create(name=name, package=package, **fields)
        event_record(actor=actor, verb="application.create", obj=app, data={"package": package})
    return app


def environment_create(*, name: str, order: int, actor: str, requires_approval: bool = False,
                       min_approvals: int = 1) -> Environment:
    validators.slug("name", name)
    if not isinstance(min_approvals, int) or not 1 <= min_approvals <= 10:
        raise ValidationError("min_approvals: give a number of approvers from 1 to 10", field="min_approvals")
    with transaction.atomic():
        env = Environment.objects.create(name=name, order=order, requires_approval=requires_approval,
                                         min_approvals=min_approvals)
        event_record(actor=actor, verb="environment.create", obj=env)
    return env


def environment_protect(*, environment: Environment | str, requires_approval: bool, min_approvals: int,
                        actor: str) -> Environment:
    """Set whether deployments need approval, and how many distinct approvers."""
    if not isinstance(min_approvals, int) or not 1 <= min_approvals <= 10:
        raise ValidationError("min_approvals: give a number of approvers from 1 to 10", field="min_approvals")
    with transaction.atomic():
        env = _environment_locked(environment)
        before = {"requires_approval": env.requires_approval, "min_approvals": env.min_approvals}
        Environment.objects.filter(pk=env.pk).update(requires_approval=requires_approval, min_approvals=min_approvals)
        env.refresh_from_db()
        after = {"requires_approval": env.requires_approval, "min_approvals": env.min_approvals}
        if after != before:
            event_record(actor=actor, verb="environment.protect", obj=env, data={"before": before, "after": after})
    return env


def environment_lock(*, environment: Environment | str, reason: str, actor: str) -> Environment:
    """Lock: no deployment starts there until unlocked. A lock is a reason and an author."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationError("reason: say why the environment is locked (1 to 500 characters)", field="reason")
    with transaction.atomic():
        env = _environment_locked(environment)
        if env.is_locked:
            raise Conflict(f"{env.name} is already locked by {env.locked_by}: {env.lock_reason}")
        now = timezone.now()
        Environment.objects.filter(pk=env.pk).update(lock_reason=reason, locked_by=actor, locked_at=now)
        event_record(actor=actor, verb="environment.lock", obj=env, before="unlocked", after="locked",
                     data={"reason": reason})
        env.lock_reason, env.locked_by, env.locked_at = reason, actor, now
    return env


def environment_unlock(*, environment: Environment | str, actor: str) -> Environment:
    with transaction.atomic():
        env = _environment_locked(environment)
        if not env.is_locked:
            raise Conflict(f"{env.name} is not locked")
        Environment.objects.filter(pk=env.pk).update(lock_reason="", locked_by="", locked_at=None)
        event_record(actor=actor, verb="environment.unlock", obj=env, before="locked", after="unlocked",
                     data={"reason": env.lock_reason, "locked_by": env.locked_by})
        env.lock_reason, env.locked_by, env.locked_at = "", "", None
    return env


def freeze_create(*, environment: Environment | str, actor: str, **fields) -> FreezeWindow:
    """A freeze window: kind "once" (starts_at, ends_at) or "weekly" (weekdays, start_time,
    end_time, timezone); see catalog/freezes.py."""
    checked = freezes.validated(fields)
    with transaction.atomic():
        env = _environment_locked(environment)
        window = FreezeWindow.objects.create(environment=env, created_by=actor, **checked)
        event_record(actor=actor, verb="freeze.create", obj=window,
                     data={"environment": env.name, "after": freezes.as_dict(window)})
    return window


def freeze_update(*, freeze_id: int, actor: str, **fields) -> FreezeWindow:
    """Change a window; fields not given keep their value."""
    with transaction.atomic():
        window = _freeze_locked(freeze_id)
        before = freezes.as_dict(window)
        checked = freezes.validated({**_freeze_fields(window), **fields})
        FreezeWindow.objects.filter(pk=window.pk).update(**checked)
        window.refresh_from_db()
        event_record(actor=actor, verb="freeze.update", obj=window,
                     data={"environment": window.environment.name, "before": before,
                           "after": freezes.as_dict(window)})
    return window


def freeze_delete(*, freeze_id: int, actor: str) -> None:
    with transaction.atomic():
        window = _freeze_locked(freeze_id)
        event_record(actor=actor, verb="freeze.delete", obj=window,
                     data={"environment": window.environment.name, "before": freezes.as_dict(window)})
        window.delete()


def _freeze_fields(window: FreezeWindow) -> dict:
    return {name: getattr(window, name) for name in
            ("kind", "reason", "starts_at", "ends_at", "weekdays", "start_time", "end_time", "timezone")}


def _freeze_locked(freeze_id: int) -> FreezeWindow:
    window = FreezeWindow.objects.select_for_update().select_related("environment").filter(pk=freeze_id).first()
    if window is None:
        raise NotFound(f"freeze window #{freeze_id} does not exist")
    return window


def _environment_locked(environment: Environment | str) -> Environment:
    name = environment if isinstance(environment, str) else environment.name
    env = Environment.objects.select_for_update().filter(name=name).first()
    if env is None:
        known = ", ".join(Environment.objects.values_list("name", flat=True)) or "none yet"
        raise NotFound(f"environment: unknown {name!r}; known: {known}", field="environment")
    return env


def host_create(*, certname: str, environment: Environment, applications: list[Application], actor: str) -> Host:
    validators.certname("certname", certname)
    with transaction.atomic():
        host = Host.objects.create(certname=certname, environment=environment)
        host.applications.set(applications)
        event_record(actor=actor, verb="host.create", obj=host, data={"environment": environment.name})
    return host


def artifact_register(*, application: Application, nevra: str, actor: str, source_url: str = "",
                      build_url: str = "", checksum: str = "") -> Artifact:
    """Register a build (idempotent: announcing the same NEVRA twice returns the first)."""
    try:
        parsed = NEVRA.parse(nevra)
    except ValueError as error:
        raise ValidationError(str(error), field="nevra") from None
    if parsed.name != application.package:
        raise ValidationError(
            f"nevra: package {parsed.name!r} does not belong to {application.name} (package {application.package!r})",
            field="nevra",
        )
    with transaction.atomic():
        artifact, created = Artifact.objects.get_or_create(
            application=application, epoch=parsed.epoch, version=parsed.version, release=parsed.release,
            arch=parsed.arch,
            defaults={"name": parsed.name, "source_url": source_url, "build_url": build_url, "checksum": checksum},
        )
        if created:
            event_record(actor=actor, verb="artifact.register", obj=artifact, data={"nevra": str(parsed)})
            transaction.on_commit(lambda: _announce_registered(artifact))
    return artifact


def _announce_registered(artifact: Artifact) -> None:
    for receiver, result in signals.artifact_registered.send_robust(sender=Artifact, artifact=artifact):
        if isinstance(result, Exception):
            log.error("artifact %s: artifact_registered receiver %r failed: %s", artifact, receiver, result,
                      exc_info=result)


def fleet_create_demo(*, hosts_per_environment: int, converge_seconds: float = 0.5, transient_rate: float = 0.0,
                      application: str = "shop-api", actor: str = "demo") -> Application:
    """The demo: one application on N simulated hosts in each of cert, test and production,
    each environment behind a simulated load-balancer pool, with two builds to deploy."""
    with transaction.atomic():
        app = application_create(
            name=application, package=application, actor=actor,
            description="Demo application on a simulated fleet",
            rollout_defaults={"batch_size": "50%", "retry_backoff_s": 0.2, "drain_timeout_s": 5, "max_attempts": 5},
            converge_driver="simulated",
            converge_options={"duration_s": converge_seconds, "transient_rate": transient_rate, "seed": 7},
            health_driver="simulated",
        )
        for order, env_name in enumerate(["cert", "test", "production"]):
            env = environment_create(name=env_name, order=order, actor=actor)
            pool = Pool.objects.create(name=f"{application}-{env_name}", application=app, environment=env,
                                       driver="simulated")
            for i in range(1, hosts_per_environment + 1):
                host = host_create(certname=f"{application}-{env_name}-{i:02d}.example.test", environment=env,
                                   applications=[app], actor=actor)
                PoolMember.objects.create(pool=pool, host=host, member=host.certname)
        for version in ("1.0.0-1", "1.1.0-1"):
            artifact_register(application=app, nevra=f"{application}-{version}.noarch", actor=actor)
    return app
