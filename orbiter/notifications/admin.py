from django.contrib import admin

from orbiter.notifications.models import Channel, Delivery


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "target", "enabled", "created_at"]
    list_filter = ["kind", "enabled"]
    filter_horizontal = ["applications", "environments"]
    search_fields = ["name", "url"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Failed deliveries are what an admin comes here for: filter by status."""

    list_display = ["id", "created_at", "channel", "event", "deployment", "status", "attempts", "http_status", "error"]
    list_filter = ["status", "event", "channel"]
    search_fields = ["uuid", "error"]
    list_select_related = ["channel"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False  # deliveries are a record of what was sent
