from django.contrib import admin

from orbiter.common.admin import ReadOnlyAdmin, ServiceAdmin
from orbiter.notifications import services
from orbiter.notifications.models import Channel, Delivery


@admin.register(Channel)
class ChannelAdmin(ServiceAdmin):
    """Writes go through the channel services: targets and secret references are checked,
    and every change is audited with your username."""

    list_display = ["name", "kind", "target", "enabled", "created_at"]
    list_filter = ["kind", "enabled"]
    filter_horizontal = ["applications", "environments"]
    search_fields = ["name", "url"]
    fields = services.CHANNEL_FIELDS

    def validate(self, data, original):
        services.channel_validate({**(stored(original) if original else {}), **by_name(data)})

    def create(self, actor, data):
        return services.channel_create(actor=actor, **by_name(data))

    def update(self, actor, original, changes):
        return services.channel_update(name=original.name, actor=actor, **by_name(changes))

    def remove(self, actor, obj):
        services.channel_delete(name=obj.name, actor=actor)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """Read-only: deliveries are a record of what was sent. Failed deliveries are what an
    admin comes here for: filter by status."""

    list_display = ["id", "created_at", "channel", "event", "deployment", "status", "attempts", "http_status", "error"]
    list_filter = ["status", "event", "channel"]
    search_fields = ["uuid", "error"]
    list_select_related = ["channel"]


def stored(channel: Channel) -> dict:
    values = {name: getattr(channel, name) for name in services.CHANNEL_FIELDS
              if name not in ("applications", "environments")}
    return {**values, "applications": [a.name for a in channel.applications.all()],
            "environments": [e.name for e in channel.environments.all()]}


def by_name(data: dict) -> dict:
    """The services take applications and environments by name."""
    return {key: [obj.name for obj in value] if key in ("applications", "environments") else value
            for key, value in data.items()}
