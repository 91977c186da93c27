from django.contrib import admin

from orbiter.catalog.admin import catalog_values
from orbiter.common.admin import ServiceAdmin
from orbiter.inventory import services
from orbiter.inventory.models import HostSource


@admin.register(HostSource)
class HostSourceAdmin(ServiceAdmin):
    """Writes go through the host source services: every field is checked and every change is
    audited with your username. The sync state is the scheduler's (`orbiter inventory sync`
    syncs on demand)."""

    list_display = ["name", "environment", "url", "enabled", "interval_s", "last_success_at", "last_error"]
    list_filter = ["enabled", "environment"]
    search_fields = ["name", "url"]
    readonly_fields = ["next_sync_at", "last_attempt_at", "last_success_at", "last_error", "last_summary",
                       "created_at"]
    fields = [*services.HOSTSOURCE_FIELDS, *readonly_fields]

    def validate(self, data, original):
        services.hostsource_validate({**catalog_values(original, services.HOSTSOURCE_FIELDS), **data})

    def create(self, actor, data):
        return services.hostsource_create(actor=actor, **data)

    def update(self, actor, original, changes):
        return services.hostsource_update(source=original, actor=actor, **changes)

    def remove(self, actor, obj):
        services.hostsource_delete(source=obj, actor=actor)
