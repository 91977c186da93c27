"""Accounts in the admin: users, groups and role bindings through the audited services; API
tokens read and revoked (created with `orbiter tokens create` or the API, shown once); sign-in
attempts and lockouts (django-axes) read only."""

import copy
from functools import partial

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group, User

from orbiter.accounts import services, tokens, users
from orbiter.accounts.models import ApiToken, RoleBinding
from orbiter.common.admin import ReadOnlyAdmin, ServiceAdmin


@admin.register(RoleBinding)
class RoleBindingAdmin(ServiceAdmin):
    """Granted and revoked through the role services, each audited with your username. To
    change a binding, revoke it and grant the new one."""

    list_display = ["user", "group", "environment", "role", "created_by", "created_at"]
    list_filter = ["role", "environment"]
    search_fields = ["user__username", "group__name"]
    fields = ["user", "group", "environment", "role"]

    def has_change_permission(self, request, obj=None):
        return False

    def validate(self, data, original):
        services.role_binding_validate(**names(data))

    def create(self, actor, data):
        return services.role_grant(actor=actor, **names(data))

    def remove(self, actor, obj):
        services.role_revoke(actor=actor, **names({"user": obj.user, "group": obj.group,
                                                   "environment": obj.environment, "role": obj.role}))


def names(data: dict) -> dict:
    """The role services take users, groups and environments by name ("" for none)."""
    user, group, env = data.get("user"), data.get("group"), data.get("environment")
    return {"role": data.get("role") or "", "user": user.get_username() if user else "",
            "group": group.name if group else "", "environment": env.name if env else ""}


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are created with `orbiter tokens create` or the API (the token is shown once).
    Here they can be read, and revoked with the "Revoke" action (audited)."""

    list_display = ["name", "prefix", "user", "max_role", "created_at", "expires_at", "last_used_at", "revoked_at"]
    exclude = ["token_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            tokens.token_revoke(token_id=token.pk, actor=request.user.get_username())
        self.message_user(request, f"{queryset.count()} token(s) revoked.", messages.SUCCESS)


class AuditedPasswordForm(AdminPasswordChangeForm):
    """Sets the password through users.user_password_set, which records who did (never the hash)."""

    def __init__(self, user, *args, actor: str, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.actor = actor

    def save(self, commit=True):
        usable = self.cleaned_data.get("set_usable_password", True)
        password = self.cleaned_data["password1"] if usable else None
        return users.user_password_set(user=self.user, password=password, actor=self.actor)


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(ServiceAdmin, UserAdmin):
    """Users are created, changed and deleted through the user services, each audited with
    your username (never the password or its hash)."""

    readonly_fields = ["last_login", "date_joined"]

    def validate(self, data, original):
        if original is None:
            users.user_validate({"username": data.get("username")})
        else:
            stored = {name: getattr(original, name) for name in users.USER_FIELDS
                      if name not in ("groups", "user_permissions")}
            users.user_validate({**stored, **{k: v for k, v in data.items() if k in users.USER_FIELDS}})

    def create(self, actor, data):
        usable = data.get("set_usable_password", True)
        return users.user_create(username=data["username"], actor=actor,
                                 password=data.get("password1") if usable else None)

    def update(self, actor, original, changes):
        return users.user_update(user=original, actor=actor,
                                 **{k: v for k, v in changes.items() if k in users.USER_FIELDS})

    def remove(self, actor, obj):
        users.user_delete(user=obj, actor=actor)

    def user_change_password(self, request, id, form_url=""):
        # Django builds the form as self.change_password_form(user, data); a copy of this
        # page for the one request binds the actor without sharing state between requests.
        page = copy.copy(self)
        page.change_password_form = partial(AuditedPasswordForm, actor=request.user.get_username())
        return UserAdmin.user_change_password(page, request, id, form_url)


@admin.register(Group)
class AuditedGroupAdmin(ServiceAdmin, GroupAdmin):
    """Groups are created, changed and deleted through the group services, each audited."""

    def validate(self, data, original):
        users.group_validate({"name": data.get("name")})

    def create(self, actor, data):
        return users.group_create(name=data["name"], permissions=data.get("permissions") or [], actor=actor)

    def update(self, actor, original, changes):
        return users.group_update(group=original, actor=actor, **changes)

    def remove(self, actor, obj):
        users.group_delete(group=obj, actor=actor)




class SignInRecordAdmin(ReadOnlyAdmin):
    """Sign-in records kept by django-axes, read only here: a lockout is lifted with
    `orbiter axes_reset_username NAME` or `orbiter axes_reset_ip ADDRESS` (docs/security.md),
    and each lockout is an audit Event (signin.locked_out)."""

    date_hierarchy = "attempt_time"
    search_fields = ["username", "ip_address"]


@admin.register(AccessAttempt)
class AccessAttemptAdmin(SignInRecordAdmin):
    __doc__ = SignInRecordAdmin.__doc__
    list_display = ["attempt_time", "username", "ip_address", "failures_since_start"]


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(SignInRecordAdmin):
    __doc__ = SignInRecordAdmin.__doc__
    list_display = ["attempt_time", "username", "ip_address", "locked_out"]


@admin.register(AccessLog)
class AccessLogAdmin(SignInRecordAdmin):
    __doc__ = SignInRecordAdmin.__doc__
    list_display = ["attempt_time", "logout_time", "username", "ip_address"]
