from django.contrib import admin

from orbiter.catalog.models import (
    Application,
    Artifact,
    EnrollmentToken,
    Environment,
    FreezeWindow,
    Host,
    Pin,
)


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "package", "converge_driver", "health_driver"]
    search_fields = ["name", "package"]


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "requires_approval", "min_approvals", "lock_reason", "locked_by"]


@admin.register(FreezeWindow)
class FreezeWindowAdmin(admin.ModelAdmin):
    """Prefer the API or `orbiter` services: they validate windows and audit changes."""

    list_display = ["environment", "kind", "reason", "starts_at", "ends_at", "weekdays", "start_time", "end_time",
                    "timezone"]
    list_filter = ["environment", "kind"]


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["certname", "environment", "healthy", "last_seen_at"]
    list_filter = ["environment", "healthy"]
    search_fields = ["certname"]


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["__str__", "application", "found_at"]
    list_filter = ["application"]


@admin.register(Pin)
class PinAdmin(admin.ModelAdmin):
    list_display = ["host", "application", "artifact", "updated_at"]
    list_filter = ["application"]


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `orbiter agents token HOST`; only their hashes are stored."""

    list_display = ["host", "created_by", "created_at", "expires_at", "used_at"]
    readonly_fields = ["token_hash"]

    def has_add_permission(self, request):
        return False
