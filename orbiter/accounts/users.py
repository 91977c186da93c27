"""Writes to users and groups (the admin's pages call these), each audited with who acted.

An Event never holds a password or its hash: a password change is recorded as
"password set" or "password-based sign-in disabled".
"""

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction

from orbiter.audit.services import event_record, field_changes
from orbiter.common.errors import NotFound, ValidationError

USER_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser", "groups",
               "user_permissions")
GROUP_FIELDS = ("name", "permissions")


def user_validate(fields: dict) -> None:
    unknown = sorted(set(fields) - set(USER_FIELDS))
    if unknown:
        raise ValidationError(f"{unknown[0]}: not a field of a user here; allowed: {', '.join(USER_FIELDS)}",
                              field=unknown[0])
    username = fields.get("username")
    try:
        get_user_model().username_validator(username if isinstance(username, str) else "")
        if not username or len(username) > 150:
            raise DjangoValidationError("required")
    except DjangoValidationError:
        raise ValidationError("username: give 1 to 150 letters, digits and @ . + - _", field="username") from None
    if fields.get("email"):
        try:
            validate_email(fields["email"])
        except DjangoValidationError:
            raise ValidationError(f"email: {fields['email']!r} is not an email address", field="email") from None
    for flag in ("is_active", "is_staff", "is_superuser"):
        if not isinstance(fields.get(flag, False), bool):
            raise ValidationError(f"{flag}: give true or false", field=flag)


def user_create(*, username: str, actor: str, password: str | None = None, **fields):
    """A user; `password` None leaves password sign-in disabled (LDAP, OIDC)."""
    user_validate({"username": username, **fields})
    _unique_username(username)
    many = {name: fields.pop(name) for name in ("groups", "user_permissions") if name in fields}
    with transaction.atomic():
        user = get_user_model()(username=username, **fields)
        _set_password(user, password)
        user.save()
        for name, value in many.items():
            getattr(user, name).set(value)
        event_record(actor=actor, verb="user.create", obj=user,
                     data={"after": field_changes({}, _values(user))["after"],
                           "password": "set" if password else "sign-in disabled"})
    return user


def user_update(*, user, actor: str, **changes):
    """Change a user's names, email, flags, groups or permissions (not the password: see
    user_password_set); one Event with the values before and after."""
    with transaction.atomic():
        found = _locked_user(user)
        before = _values(found)
        after = {**before, **{name: _sorted(value) for name, value in changes.items()}}
        user_validate(after)
        _unique_username(after["username"], exclude=found.pk)
        diff = field_changes(before, after)
        if not diff["after"]:
            return found
        for name in diff["after"]:
            if name in ("groups", "user_permissions"):
                getattr(found, name).set(after[name])
            else:
                setattr(found, name, after[name])
        scalar = [name for name in diff["after"] if name not in ("groups", "user_permissions")]
        if scalar:
            found.save(update_fields=scalar)
        event_record(actor=actor, verb="user.update", obj=found, data=diff)
    return found


def user_password_set(*, user, password: str | None, actor: str):
    """Set a user's password (validated), or with None disable password sign-in."""
    with transaction.atomic():
        found = _locked_user(user)
        _set_password(found, password)
        found.save(update_fields=["password"])
        event_record(actor=actor, verb="user.password", obj=found,
                     after="password set" if password else "sign-in disabled")
    return found


def user_delete(*, user, actor: str) -> None:
    with transaction.atomic():
        found = _locked_user(user)
        event_record(actor=actor, verb="user.delete", obj=found, data={"before": field_changes({}, _values(found))["after"]})
        found.delete()


def group_validate(fields: dict) -> None:
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 150:
        raise ValidationError("name: give the group a name of 1 to 150 characters", field="name")


def group_create(*, name: str, actor: str, permissions=()) -> Group:
    group_validate({"name": name})
    _unique_group(name)
    with transaction.atomic():
        group = Group.objects.create(name=name)
        group.permissions.set(permissions)
        event_record(actor=actor, verb="group.create", obj=group, data={"after": _group_values(group, plain=True)})
    return group


def group_update(*, group: Group | int, actor: str, **changes) -> Group:
    with transaction.atomic():
        found = _locked(Group, group)
        before = _group_values(found)
        after = {**before, **{name: _sorted(value) for name, value in changes.items()}}
        group_validate(after)
        _unique_group(after["name"], exclude=found.pk)
        diff = field_changes(before, after)
        if not diff["after"]:
            return found
        if "name" in diff["after"]:
            Group.objects.filter(pk=found.pk).update(name=after["name"])
        if "permissions" in diff["after"]:
            found.permissions.set(after["permissions"])
        found.refresh_from_db()
        event_record(actor=actor, verb="group.update", obj=found, data=diff)
    return found


def group_delete(*, group: Group | int, actor: str) -> None:
    """Delete a group (its role bindings go with it)."""
    with transaction.atomic():
        found = _locked(Group, group)
        event_record(actor=actor, verb="group.delete", obj=found, data={"before": _group_values(found, plain=True)})
        found.delete()


def _set_password(user, password: str | None) -> None:
    if password is None:
        user.set_unusable_password()
        return
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as error:
        raise ValidationError(f"password: {' '.join(error.messages)}", field="password") from None
    user.set_password(password)


def _values(user) -> dict:
    values = {name: getattr(user, name) for name in USER_FIELDS if name not in ("groups", "user_permissions")}
    values["groups"] = _sorted(user.groups.all()) if user.pk else []
    values["user_permissions"] = _sorted(user.user_permissions.all()) if user.pk else []
    return values


def _group_values(group: Group, *, plain: bool = False) -> dict:
    values = {"name": group.name, "permissions": _sorted(group.permissions.all())}
    return field_changes({}, values)["after"] if plain else values


def _sorted(value):
    """Related rows in a stable order, so an unchanged selection is not a change."""
    if hasattr(value, "model") or (isinstance(value, list | tuple) and value and hasattr(value[0], "_meta")):
        return sorted(value, key=lambda row: row.pk)
    return value


def _unique_username(username: str, *, exclude=None) -> None:
    if get_user_model().objects.filter(username=username).exclude(pk=exclude).exists():
        raise ValidationError(f"username: {username!r} is taken; give another", field="username")


def _unique_group(name: str, *, exclude=None) -> None:
    if Group.objects.filter(name=name).exclude(pk=exclude).exists():
        raise ValidationError(f"name: a group named {name!r} exists already", field="name")


def _locked_user(user):
    return _locked(get_user_model(), user)


def _locked(model, obj):
    pk = obj.pk if isinstance(obj, model) else obj
    found = model.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(f"{model._meta.verbose_name} #{pk} does not exist")
    return found

