from django.contrib import admin

from orbiter.common.admin import ServiceAdmin
from orbiter.sources import services
from orbiter.sources.models import YumRepository


@admin.register(YumRepository)
class YumRepositoryAdmin(ServiceAdmin):
    """Writes go through the repository services: the URL and interval are checked, and every
    change is audited with your username. The polling state is the watcher's."""

    list_display = ["name", "base_url", "enabled", "poll_interval_s", "last_checked_at", "last_success_at",
                    "last_found", "last_error"]
    list_filter = ["enabled"]
    search_fields = ["name", "base_url"]
    filter_horizontal = ["applications"]
    readonly_fields = ["etag", "last_modified", "primary_checksum", "next_poll_at", "last_checked_at",
                       "last_success_at", "last_changed_at", "last_error", "last_error_at", "last_found",
                       "created_at"]
    fields = [*services.REPOSITORY_FIELDS, *readonly_fields]

    def validate(self, data, original):
        stored = {}
        if original:
            stored = {name: getattr(original, name) for name in services.REPOSITORY_FIELDS if name != "applications"}
            stored["applications"] = [a.name for a in original.applications.all()]
        services.repository_validate({**stored, **by_name(data)})

    def create(self, actor, data):
        return services.repository_create(actor=actor, **by_name(data))

    def update(self, actor, original, changes):
        return services.repository_update(repository=original, actor=actor, **by_name(changes))

    def remove(self, actor, obj):
        services.repository_delete(repository=obj, actor=actor)


def by_name(data: dict) -> dict:
    """The services take applications by name."""
    return {key: [app.name for app in value] if key == "applications" else value for key, value in data.items()}
