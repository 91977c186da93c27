from django.contrib import admin

from orbiter.audit.models import Event
from orbiter.common.admin import ReadOnlyAdmin


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """Read-only: the audit trail is append-only."""

    list_display = ["created_at", "actor", "source_ip", "verb", "object_type", "object_id", "before", "after"]
    list_filter = ["verb", "object_type"]
    search_fields = ["actor", "object_id", "verb", "source_ip"]
