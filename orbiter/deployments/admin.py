from django.contrib import admin

from orbiter.common.admin import ReadOnlyAdmin, ReadOnlyInline
from orbiter.deployments.models import Deployment, HostDeployment


class HostDeploymentInline(ReadOnlyInline):
    model = HostDeployment
    fields = ["host", "batch", "status", "attempt", "error"]


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    """Read-only here: deployments are requested, and change status, only through the
    services (UI, API, CLI), which check roles and audit every step."""

    list_display = ["id", "application", "environment", "artifact", "status", "requested_by_name", "created_at"]
    list_filter = ["status", "environment", "application"]
    inlines = [HostDeploymentInline]


@admin.register(HostDeployment)
class HostDeploymentAdmin(ReadOnlyAdmin):
    """Read-only: a host's progress is the engine's."""

    list_display = ["deployment", "host", "batch", "status", "attempt"]
    list_filter = ["status"]
