"""Writes to the catalog: applications, environments, hosts, artifacts, the demo fleet."""

import logging
import re

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from orbiter.artifacts.rpmversion import NEVRA, validate_package_name
from orbiter.audit.services import event_record, field_changes
from orbiter.catalog import freezes, signals
from orbiter.catalog.models import Application, Artifact, Environment, FreezeWindow, Host
from orbiter.catalog.unassigned import unassigned_claim
from orbiter.common import validators
from orbiter.common.errors import Conflict, NotFound, ValidationError
from orbiter.loadbalancers.models import Pool, PoolMember

log = logging.getLogger("orbiter.catalog")


APPLICATION_FIELDS = ("name", "package", "puppet_class", "description", "rollout_defaults", "converge_driver",
                      "converge_options", "health_driver", "health_options")
ENVIRONMENT_FIELDS = ("name", "order", "requires_approval", "min_approvals", "puppet_environment")
HOST_FIELDS = ("certname", "environment", "applications", "labels", "healthy")
_PUPPET_ENVIRONMENT = re.compile(r"^[a-z0-9_]{0,63}$")


def application_validate(fields: dict) -> None:
    """What every write of an application checks before anything is written (create, update,
    the admin's form): names, and every option a deployment will read, refused now, naming
    the setting, rather than at deploy time."""
    _known_fields("application", fields, APPLICATION_FIELDS)
    validators.slug("name", fields.get("name"))
    try:
        validate_package_name(fields.get("package"))
    except ValueError as error:
        raise ValidationError(str(error), field="package") from None
    from orbiter.converge.base import registry as converge_drivers
    from orbiter.deployments.strategy import Strategy
    from orbiter.health.base import validate_options as validate_health
    from orbiter.puppet.enc import validate_puppet_class

    for name in ("rollout_defaults", "converge_options", "health_options"):
        _json_object(name, fields.get(name))
    Strategy.parse({}, defaults=fields.get("rollout_defaults") or {})
    validate_puppet_class(fields.get("puppet_class") or "")
    converge_drivers.get(fields.get("converge_driver", "simulated"))
    # The health check is built once now: a bad option is refused here, naming it, not at
    # the first host's verify step.
    validate_health(fields.get("health_driver", "none"), fields.get("health_options") or {})


def application_create(*, name: str, package: str, actor: str, **fields) -> Application:
    application_validate({"name": name, "package": package, **fields})
    _unique(Application, "name", name)
    with transaction.atomic():
        app = Application.objects.create(name=name, package=package, **fields)
        event_record(actor=actor, verb="application.create", obj=app, data={"package": package})
    return app


def application_update(*, application: Application | int, actor: str, **changes) -> Application:
    """Change some fields of an application; the others keep their value. One Event with the
    values before and after, none when nothing changed."""
    with transaction.atomic():
        app = _locked(Application, application)
        before = _values(app, APPLICATION_FIELDS)
        after = {**before, **changes}
        application_validate(after)
        _unique(Application, "name", after["name"], exclude=app.pk)
        return _update(app, before, after, verb="application.update", actor=actor)


def application_delete(*, application: Application | int, actor: str) -> None:
    with transaction.atomic():
        app = _locked(Application, application)
        event_record(actor=actor, verb="application.delete", obj=app,
                     data={"before": _plain_values(app, APPLICATION_FIELDS)})
        _delete(app)


def environment_validate(fields: dict) -> None:
    _known_fields("environment", fields, ENVIRONMENT_FIELDS)
    validators.slug("name", fields.get("name"))
    order = fields.get("order", 0)
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 10_000:
        raise ValidationError("order: give the environment's position as a whole number from 0 to 10000",
                              field="order")
    min_approvals = fields.get("min_approvals", 1)
    if not isinstance(min_approvals, int) or isinstance(min_approvals, bool) or not 1 <= min_approvals <= 10:
        raise ValidationError("min_approvals: give a number of approvers from 1 to 10", field="min_approvals")
    if not isinstance(fields.get("requires_approval", False), bool):
        raise ValidationError("requires_approval: give true or false", field="requires_approval")
    if not _PUPPET_ENVIRONMENT.match(fields.get("puppet_environment") or ""):
        raise ValidationError("puppet_environment: allowed: lowercase letters, digits and '_', at most 63 "
                              "characters (empty for Puppet's default)", field="puppet_environment")


def environment_create(*, name: str, order: int, actor: str, requires_approval: bool = False,
                       min_approvals: int = 1, puppet_environment: str = "") -> Environment:
    environment_validate({"name": name, "order": order, "requires_approval": requires_approval,
                          "min_approvals": min_approvals, "puppet_environment": puppet_environment})
    _unique(Environment, "name", name)
    with transaction.atomic():
        env = Environment.objects.create(name=name, order=order, requires_approval=requires_approval,
                                         min_approvals=min_approvals, puppet_environment=puppet_environment)
        event_record(actor=actor, verb="environment.create", obj=env)
    return env


def environment_update(*, environment: Environment | int, actor: str, **changes) -> Environment:
    """Change an environment's name, order, approval rule or Puppet environment (a lock has
    its own services: environment_lock, environment_unlock)."""
    with transaction.atomic():
        env = _locked(Environment, environment)
        before = _values(env, ENVIRONMENT_FIELDS)
        after = {**before, **changes}
        environment_validate(after)
        _unique(Environment, "name", after["name"], exclude=env.pk)
        return _update(env, before, after, verb="environment.update", actor=actor)


def environment_delete(*, environment: Environment | int, actor: str) -> None:
    """Delete an environment with no hosts (its pools, freezes and role bindings go with it)."""
    with transaction.atomic():
        env = _locked(Environment, environment)
        event_record(actor=actor, verb="environment.delete", obj=env,
                     data={"before": _plain_values(env, ENVIRONMENT_FIELDS)})
        _delete(env)


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


def host_validate(fields: dict, *, host: Host | None = None) -> None:
    """What every write of a host checks; with `host` (an update), also that a move to
    another environment does not leave it in a pool of the old one."""
    _known_fields("host", fields, HOST_FIELDS)
    validators.certname("certname", fields.get("certname"))
    if not isinstance(fields.get("environment"), Environment):
        raise ValidationError("environment: give the environment the host belongs to", field="environment")
    labels = fields.get("labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(key, str) and isinstance(value, str) and 0 < len(key) <= 63 and len(value) <= 200
        for key, value in labels.items()
    ):
        raise ValidationError('labels: give a JSON object of short strings, e.g. {"rack": "b2"}', field="labels")
    if not isinstance(fields.get("healthy", True), bool):
        raise ValidationError("healthy: give true or false", field="healthy")
    if host is not None and fields["environment"].pk != host.environment_id:
        pools = sorted(host.pool_memberships.values_list("pool__name", flat=True))
        if pools:
            raise ValidationError(f"environment: {host} is a member of {', '.join(pools)} in {host.environment}; "
                                  "remove it from those pools first", field="environment")


def host_create(*, certname: str, environment: Environment, applications: list[Application], actor: str,
                labels: dict | None = None, healthy: bool = True) -> Host:
    host_validate({"certname": certname, "environment": environment, "labels": labels or {}, "healthy": healthy})
    _unique(Host, "certname", certname)
    with transaction.atomic():
        host = Host.objects.create(certname=certname, environment=environment, labels=labels or {}, healthy=healthy)
        host.applications.set(applications)
        event_record(actor=actor, verb="host.create", obj=host, data={"environment": environment.name})
        # An agent that enrolled before the host was listed: its offered key becomes the
        # host's pending key (still to be approved), its unassigned row goes.
        unassigned_claim([certname])
    return host


def host_update(*, host: Host | int, actor: str, **changes) -> Host:
    """Change a host's certname, environment, applications, labels or health flag (its agent
    key has its own services in catalog/agents.py)."""
    with transaction.atomic():
        found = _locked(Host, host)
        before = _values(found, HOST_FIELDS)
        after = {**before, **changes}
        if "applications" in changes:
            after["applications"] = sorted(changes["applications"], key=lambda app: app.name)
        host_validate(after, host=found)
        _unique(Host, "certname", after["certname"], exclude=found.pk)
        return _update(found, before, after, verb="host.update", actor=actor)


def host_delete(*, host: Host | int, actor: str) -> None:
    """Delete a host (its pins, pool memberships and enrollment tokens go with it)."""
    with transaction.atomic():
        found = _locked(Host, host)
        event_record(actor=actor, verb="host.delete", obj=found, data={"before": _plain_values(found, HOST_FIELDS)})
        _delete(found)


# --- what the updates share ------------------------------------------------------------------


def _known_fields(kind: str, fields: dict, known: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValidationError(f"{unknown[0]}: not a field of an {kind}; allowed: {', '.join(known)}",
                              field=unknown[0])


def _json_object(name: str, value) -> None:
    if value is not None and not isinstance(value, dict):
        raise ValidationError(f'{name}: give a JSON object, e.g. {{"key": "value"}}', field=name)


def _unique(model, field: str, value, *, exclude=None) -> None:
    taken = model.objects.filter(**{field: value})
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError(f"{field}: {value!r} is taken; give another", field=field)


def _locked(model, obj):
    pk = obj.pk if isinstance(obj, model) else obj
    found = model.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(f"{model._meta.model_name} #{pk} does not exist")
    return found


def _values(obj, names: tuple[str, ...]) -> dict:
    values = {}
    for name in names:
        field = obj._meta.get_field(name)
        values[name] = sorted(getattr(obj, name).all(), key=str) if field.many_to_many else getattr(obj, name)
    return values


def _plain_values(obj, names: tuple[str, ...]) -> dict:
    return field_changes({}, _values(obj, names))["after"]


def _update(obj, before: dict, after: dict, *, verb: str, actor: str):
    """Write the fields that changed and one Event saying how (the caller holds the row's lock)."""
    changes = field_changes(before, after)
    if not changes["after"]:
        return obj
    plain = {name: after[name] for name in changes["after"] if not obj._meta.get_field(name).many_to_many}
    if plain:
        type(obj).objects.filter(pk=obj.pk).update(**plain)
    for name in changes["after"]:
        if obj._meta.get_field(name).many_to_many:
            getattr(obj, name).set(after[name])
    obj.refresh_from_db()
    event_record(actor=actor, verb=verb, obj=obj, data=changes)
    return obj


def _delete(obj) -> None:
    try:
        obj.delete()
    except ProtectedError as error:
        used_by = sorted({str(row) for row in error.protected_objects})[:5]
        raise Conflict(f"{obj} is still used by {', '.join(used_by)}; remove those first") from None


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
