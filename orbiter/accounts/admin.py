from django.contrib import admin

from orbiter.accounts.models import ApiToken, RoleBinding


@admin.register(RoleBinding)
class RoleBindingAdmin(admin.ModelAdmin):
    list_display = ["user", "group", "environment", "role", "created_by", "created_at"]
    list_filter = ["role", "environment"]
    search_fields = ["user__username", "group__name"]

    def save_model(self, request, obj, form, change):
        if not obj.created_by:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `orbiter tokens create` or the API (the token is shown once);
    here they can be read and revoked (set "revoked at")."""

    list_display = ["name", "prefix", "user", "max_role", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = ["token_hash", "prefix", "created_by", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False
