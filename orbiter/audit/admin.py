from django.contrib import admin

from orbiter.audit.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only."""

    list_display = ["created_at", "actor", "source_ip", "verb", "object_type", "object_id", "before", "after"]
    list_filter = ["verb", "object_type"]
    search_fields = ["actor", "object_id", "verb", "source_ip"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
