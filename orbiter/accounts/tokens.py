"""API tokens: created once (the token is shown then and never again), stored as a SHA-256.

A token is 32 random bytes (URL-safe base64) behind the `orb_` prefix, so a plain hash is
enough: there is nothing to brute-force that a slow hash would protect.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from orbiter.accounts import roles
from orbiter.accounts.models import ApiToken
from orbiter.audit.services import event_record
from orbiter.catalog.models import Application, Environment
from orbiter.common.errors import NotFound, ValidationError

PREFIX = "orb_"


@dataclass(frozen=True)
class TokenScope:
    """What `roles` needs of a token, attached to the request's user by the API."""

    id: int
    name: str
    max_role: str
    environment_ids: frozenset[int]
    application_ids: frozenset[int]


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user, name: str, actor: str, applications: list[str] = (), environments: list[str] = (),
                 max_role: str = roles.DEPLOYER, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns (token row, the token itself — show it once)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("name: give the token a name of 1 to 100 characters, e.g. jenkins-shop-api",
                              field="name")
    if max_role not in roles.ROLES:
        raise ValidationError(f"max_role: {max_role!r} is not a role; allowed: {', '.join(roles.ROLES)}",
                              field="max_role")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("expires_at: must be in the future", field="expires_at")
    apps = _named(Application, applications, "applications")
    envs = _named(Environment, environments, "environments", user=user)
    raw = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name, user=user, prefix=raw[: len(PREFIX) + 6], token_hash=token_hash(raw), max_role=max_role,
            created_by=actor, expires_at=expires_at,
        )
        token.applications.set(apps)
        token.environments.set(envs)
        event_record(actor=actor, verb="token.create", obj=token, after="active", data={
            "user": user.get_username(), "name": name, "max_role": max_role,
            "applications": [a.name for a in apps], "environments": [e.name for e in envs],
        })
    return token, raw


def token_revoke(*, token_id: int, actor: str) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound(f"API token #{token_id} does not exist")
        if token.revoked_at is None:
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
            event_record(actor=actor, verb="token.revoke", obj=token, before="active", after="revoked",
                         data={"name": token.name})
            token.refresh_from_db()
    return token


def token_authenticate(raw: str):
    """(user, TokenScope) for a valid, unexpired, unrevoked token of an active user, else None."""
    if not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=token_hash(raw)).first()
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # at most once a minute: no write per call
    scope = TokenScope(
        id=token.pk, name=token.name, max_role=token.max_role,
        environment_ids=frozenset(token.environments.values_list("pk", flat=True)),
        application_ids=frozenset(token.applications.values_list("pk", flat=True)),
    )
    user = token.user
    setattr(user, roles.TOKEN_ATTRIBUTE, scope)
    return user, scope


def user_named(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"user {username!r} does not exist", field="user")
    return user


def _named(model, names, field: str, *, user=None) -> list:
    """The objects of these names, or a ValidationError naming the unknown ones and (only the
    environments `user` may view, for environments) the known ones."""
    names = list(dict.fromkeys(names or []))
    found = {obj.name: obj for obj in model.objects.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        shown = model.objects.order_by("name")
        visible = roles.environments_where(user, "view") if user is not None and model is Environment else None
        if visible is not None:
            shown = shown.filter(pk__in=visible)
        known = ", ".join(shown.values_list("name", flat=True)[:20]) or (
            f"none {user.get_username()} may view" if visible is not None else "none yet")
        raise ValidationError(f"{field}: unknown {', '.join(map(repr, missing))}; known: {known}", field=field)
    return [found[n] for n in names]
