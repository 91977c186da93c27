"""Writes to role bindings. Every grant and revoke is an audit Event."""

from django.contrib.auth.models import Group
from django.db import transaction

from orbiter.accounts import roles
from orbiter.accounts.models import RoleBinding
from orbiter.accounts.tokens import user_named
from orbiter.audit.services import event_record
from orbiter.catalog.models import Environment
from orbiter.common.errors import NotFound, ValidationError


def group_ensure(*, name: str, actor: str) -> Group:
    """The group of that name, created (empty, audited) when it does not exist yet: a role can
    be bound to a directory group before its first member signs in (sign-in fills it)."""
    name = (name or "").strip()
    if not name or len(name) > 150:
        raise ValidationError("group: give the group's name (1 to 150 characters)", field="group")
    with transaction.atomic():
        group, created = Group.objects.get_or_create(name=name)
        if created:
            event_record(actor=actor, verb="group.create", obj=group, data={"name": name})
    return group


def role_grant(*, role: str, actor: str, user: str = "", group: str = "", environment: str = "") -> RoleBinding:
    """Bind a role to a user or a group, in one environment or (environment "") all of them.
    Granting what is already bound returns the existing binding."""
    who, env = role_binding_validate(role=role, user=user, group=group, environment=environment)
    with transaction.atomic():
        binding, created = RoleBinding.objects.get_or_create(**who, environment=env, role=role,
                                                             defaults={"created_by": actor})
        if created:
            event_record(actor=actor, verb="role.grant", obj=binding, after=role, data=_describe(binding))
    return binding


def role_binding_validate(*, role: str, user: str = "", group: str = "", environment: str = ""):
    """What a grant checks (the admin's form too): a known role, exactly one existing user or
    group, a known environment or none. Returns ({user, group}, environment)."""
    if role not in roles.ROLES:
        raise ValidationError(f"role: {role!r} is not a role; allowed: {', '.join(roles.ROLES)}", field="role")
    return _who(user, group), _environment(environment)


def role_revoke(*, role: str, actor: str, user: str = "", group: str = "", environment: str = "") -> int:
    """Remove that binding; returns how many were removed (0 when there was none)."""
    who = _who(user, group)
    env = _environment(environment)
    with transaction.atomic():
        removed = 0
        for binding in RoleBinding.objects.filter(**who, environment=env, role=role):
            event_record(actor=actor, verb="role.revoke", obj=binding, before=role, data=_describe(binding))
            binding.delete()
            removed += 1
    return removed


def _who(user: str, group: str) -> dict:
    if bool(user) == bool(group):
        raise ValidationError("user/group: give exactly one of a user or a group", field="user")
    if user:
        return {"user": user_named(user), "group": None}
    found = Group.objects.filter(name=group).first()
    if found is None:
        raise NotFound(f"group {group!r} does not exist", field="group")
    return {"user": None, "group": found}


def _environment(name: str):
    if not name:
        return None
    env = Environment.objects.filter(name=name).first()
    if env is None:
        known = ", ".join(Environment.objects.values_list("name", flat=True)) or "none yet"
        raise NotFound(f"environment: unknown {name!r}; known: {known}", field="environment")
    return env


def _describe(binding: RoleBinding) -> dict:
    return {
        "user": binding.user.get_username() if binding.user_id else None,
        "group": binding.group.name if binding.group_id else None,
        "environment": binding.environment.name if binding.environment_id else None,
        "role": binding.role,
    }
