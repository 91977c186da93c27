from django.contrib import admin

from orbiter.sources.models import YumRepository


@admin.register(YumRepository)
class YumRepositoryAdmin(admin.ModelAdmin):
    list_display = ["name", "base_url", "enabled", "poll_interval_s", "last_checked_at", "last_success_at",
                    "last_found", "last_error"]
    list_filter = ["enabled"]
    search_fields = ["name", "base_url"]
    filter_horizontal = ["applications"]
    readonly_fields = ["etag", "last_modified", "primary_checksum", "next_poll_at", "last_checked_at",
                       "last_success_at", "last_changed_at", "last_error", "last_error_at", "last_found",
                       "created_at"]
