"""Roles per environment: who may do what, and where. The API and the UI call `require()`
at their edge; services keep taking `actor: str` and trust their caller.

Roles are ordered, each includes the ones before it: viewer < deployer < approver < admin.
A user's role in an environment is the highest of the bindings of the user and of their
groups, for that environment or for all environments; a superuser is admin everywhere.
ORBITER_DEFAULT_ROLE (default viewer) is what every active signed-in user has without a
binding ("" for none). An API token acts as its user with the role capped by the token's
`max_role`, and none at all outside the token's environments and applications.
"""

from django.conf import settings

from orbiter.common.errors import Forbidden

VIEWER, DEPLOYER, APPROVER, ADMIN = "viewer", "deployer", "approver", "admin"  # each includes the ones before
ROLES = (VIEWER, DEPLOYER, APPROVER, ADMIN)
_RANK = {role: rank for rank, role in enumerate(ROLES)}

ACTIONS = {"view": VIEWER, "deploy": DEPLOYER, "pause": DEPLOYER, "resume": DEPLOYER, "cancel": DEPLOYER,
           "retry": DEPLOYER, "rollback": DEPLOYER, "approve": APPROVER, "reject": APPROVER,
           "lock": ADMIN, "unlock": ADMIN, "protect": ADMIN, "freeze": ADMIN, "override_freeze": ADMIN}
# Actions on a whole environment (its lock, its approval rule, its freeze windows), not on one
# application's deployments there: a token limited to some applications may not do them,
# whatever its role. The one place this rule is written; `can` and `require` apply it.
ENVIRONMENT_WIDE = frozenset({"lock", "unlock", "protect", "freeze"})

# Set by the API's token authentication on the request's user object (never stored).
TOKEN_ATTRIBUTE = "orbiter_token"
_CACHE_ATTRIBUTE = "_orbiter_role_bindings"


def highest(*roles: str | None) -> str | None:
    present = [r for r in roles if r]
    return max(present, key=_RANK.__getitem__) if present else None


def lowest(*roles: str | None) -> str | None:
    if any(r is None for r in roles):
        return None
    return min(roles, key=_RANK.__getitem__) if roles else None


def includes(role: str | None, needed: str) -> bool:
    return role is not None and _RANK[role] >= _RANK[needed]


def role_for(user, environment, *, application=None) -> str | None:
    """The user's role in `environment` (an Environment, its name, or None for "all
    environments" bindings only); None when the user may not even view it."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    token = getattr(user, TOKEN_ATTRIBUTE, None)
    if token is not None and not _token_covers(token, environment, application):
        return None
    if user.is_superuser:
        role = ADMIN
    else:
        env_id = _environment_id(environment)
        bindings = _bindings(user)
        role = highest(
            getattr(settings, "ORBITER_DEFAULT_ROLE", VIEWER) or None,
            *(r for bound_env, r in bindings if bound_env is None or (env_id is not None and bound_env == env_id)),
        )
    if token is not None:
        role = lowest(role, token.max_role)
    return role


def can(user, action: str, environment, *, application=None) -> bool:
    if _limited_to_applications(user, action):
        return False
    return includes(role_for(user, environment, application=application), needed_role(action))


def require(user, action: str, environment, *, application=None) -> None:
    """Raise Forbidden (HTTP 403) naming the role needed and the role held."""
    needed = needed_role(action)
    where = _environment_name(environment)
    token = getattr(user, TOKEN_ATTRIBUTE, None)
    if _limited_to_applications(user, action):
        from orbiter.catalog.models import Application

        names = ", ".join(Application.objects.filter(pk__in=token.application_ids).order_by("name")
                          .values_list("name", flat=True))
        raise Forbidden(f"API token {token.name!r} is limited to application {names}; {action} acts on all of "
                        f"{where}: use a token not limited to an application", action=action, environment=where)
    role = role_for(user, environment, application=application)
    if includes(role, needed):
        return
    who = getattr(user, "get_username", lambda: "anonymous")() or "anonymous"
    if token is not None and not _token_covers(token, environment, None):
        raise Forbidden(f"API token {token.name!r} is not scoped to {where}", action=action, environment=where)
    if token is not None and not _token_covers(token, None, application):
        raise Forbidden(f"API token {token.name!r} is not scoped to application {_name(application)}",
                        action=action, environment=where)
    held = f"has {role}" if role else "has no role there"
    raise Forbidden(f"{who} may not {action} in {where}: needs the {needed} role, {held}",
                    action=action, environment=where, needed=needed, role=role)


def require_admin_everywhere(user, what: str) -> None:
    """For what belongs to no environment yet (agents that enrolled before anyone listed
    them): the admin role for all environments, and an API token limited to none. Raise
    Forbidden naming what is needed."""
    token = getattr(user, TOKEN_ATTRIBUTE, None)
    if token is not None and (token.environment_ids or token.application_ids):
        raise Forbidden(f"API token {token.name!r} is limited to some environments or applications; {what} "
                        "needs a token that is not", action=what)
    role = role_for(user, None)
    if not includes(role, ADMIN):
        who = getattr(user, "get_username", lambda: "anonymous")() or "anonymous"
        raise Forbidden(f"{who} may not {what}: needs the admin role for all environments, "
                        f"{f'has {role}' if role else 'has no role'}", action=what, needed=ADMIN, role=role)


def needed_role(action: str) -> str:
    try:
        return ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}") from None


def environments_where(user, action: str) -> list[int] | None:
    """Ids of the environments where the user may do `action`; None means all of them."""
    from orbiter.catalog.models import Environment

    if can(user, action, None):
        token = getattr(user, TOKEN_ATTRIBUTE, None)
        if token is None or not token.environment_ids:
            return None
    return [env.pk for env in Environment.objects.all() if can(user, action, env)]


def can_somewhere(user, action: str, *, application=None) -> bool:
    """May the user do `action` in at least one environment (e.g. register a build of
    `application`, which belongs to no environment yet)?"""
    from orbiter.catalog.models import Environment

    if can(user, action, None, application=application):
        return True
    return any(can(user, action, env, application=application) for env in Environment.objects.all())


def _bindings(user) -> list[tuple[int | None, str]]:
    """(environment id or None, role) of the user's and their groups' bindings, read once per user object."""
    cached = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is None:
        from django.db.models import Q

        from orbiter.accounts.models import RoleBinding

        cached = list(
            RoleBinding.objects.filter(Q(user=user) | Q(group__in=user.groups.all()))
            .values_list("environment_id", "role")
        )
        setattr(user, _CACHE_ATTRIBUTE, cached)
    return cached


def _limited_to_applications(user, action: str) -> bool:
    token = getattr(user, TOKEN_ATTRIBUTE, None)
    return token is not None and bool(token.application_ids) and action in ENVIRONMENT_WIDE


def _token_covers(token, environment, application) -> bool:
    """Within the token's environments (environment None: not checked) and applications."""
    if token.environment_ids and environment is not None:
        env_id = _environment_id(environment)
        if env_id is None or env_id not in token.environment_ids:
            return False
    if token.application_ids and application is not None:
        app_id = _application_id(application)
        if app_id not in token.application_ids:
            return False
    return True


def _environment_id(environment) -> int | None:
    if environment is None:
        return None
    if isinstance(environment, str):
        from orbiter.catalog.models import Environment

        return Environment.objects.filter(name=environment).values_list("pk", flat=True).first()
    return environment.pk


def _application_id(application) -> int | None:
    if isinstance(application, str):
        from orbiter.catalog.models import Application

        return Application.objects.filter(name=application).values_list("pk", flat=True).first()
    return application.pk


def _environment_name(environment) -> str:
    if environment is None:
        return "all environments"
    return environment if isinstance(environment, str) else environment.name


def _name(obj) -> str:
    return obj if isinstance(obj, str) else obj.name
