from django.contrib import admin

from orbiter.deployments.models import Deployment, HostDeployment


class HostDeploymentInline(admin.TabularInline):
    model = HostDeployment
    fields = ["host", "batch", "status", "attempt", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    """Read-only here: statuses change only through the services (UI, API, CLI)."""

    list_display = ["id", "application", "environment", "artifact", "status", "requested_by_name", "created_at"]
    list_filter = ["status", "environment", "application"]
    inlines = [HostDeploymentInline]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(HostDeployment)
class HostDeploymentAdmin(admin.ModelAdmin):
    list_display = ["deployment", "host", "batch", "status", "attempt"]
    list_filter = ["status"]

    def has_change_permission(self, request, obj=None):
        return False
