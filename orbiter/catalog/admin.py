from django.contrib import admin

from orbiter.catalog import freezes
from orbiter.catalog import services as catalog
from orbiter.catalog.models import (
    Application,
    Artifact,
    EnrollmentToken,
    Environment,
    FreezeWindow,
    Host,
    Pin,
)
from orbiter.common.admin import ReadOnlyAdmin, ServiceAdmin
from orbiter.deployments.strategy import Strategy

FREEZE_FIELDS = ("kind", "reason", "starts_at", "ends_at", "weekdays", "start_time", "end_time", "timezone")


@admin.register(Application)
class ApplicationAdmin(ServiceAdmin):
    """Writes go through the catalog services: validated (rollout defaults, drivers, health
    options) and audited with your username."""

    list_display = ["name", "package", "converge_driver", "health_driver"]
    search_fields = ["name", "package"]
    fields = catalog.APPLICATION_FIELDS
    # A bad rollout setting is shown on the field that holds it.
    error_fields = {"strategy": "rollout_defaults", **{name: "rollout_defaults" for name in Strategy.__dataclass_fields__}}

    def validate(self, data, original):
        catalog.application_validate({**(catalog_values(original, catalog.APPLICATION_FIELDS)), **data})

    def create(self, actor, data):
        return catalog.application_create(actor=actor, **data)

    def update(self, actor, original, changes):
        return catalog.application_update(application=original, actor=actor, **changes)

    def remove(self, actor, obj):
        catalog.application_delete(application=obj, actor=actor)


@admin.register(Environment)
class EnvironmentAdmin(ServiceAdmin):
    """Writes go through the catalog services and are audited with your username. Lock and
    unlock from the environment's page in the UI (a lock is a reason and an author)."""

    list_display = ["name", "order", "requires_approval", "min_approvals", "lock_reason", "locked_by"]
    fields = [*catalog.ENVIRONMENT_FIELDS, "lock_reason", "locked_by", "locked_at"]
    readonly_fields = ["lock_reason", "locked_by", "locked_at"]

    def validate(self, data, original):
        catalog.environment_validate({**catalog_values(original, catalog.ENVIRONMENT_FIELDS), **data})

    def create(self, actor, data):
        return catalog.environment_create(actor=actor, **data)

    def update(self, actor, original, changes):
        return catalog.environment_update(environment=original, actor=actor, **changes)

    def remove(self, actor, obj):
        catalog.environment_delete(environment=obj, actor=actor)


@admin.register(FreezeWindow)
class FreezeWindowAdmin(ServiceAdmin):
    """Writes go through the catalog services: windows are validated and audited."""

    list_display = ["environment", "kind", "reason", "starts_at", "ends_at", "weekdays", "start_time", "end_time",
                    "timezone"]
    list_filter = ["environment", "kind"]
    fields = ["environment", *FREEZE_FIELDS, "created_by"]
    readonly_fields = ["created_by"]

    def get_readonly_fields(self, request, obj=None):
        return ["environment", "created_by"] if obj else ["created_by"]  # a window stays in its environment

    def validate(self, data, original):
        freezes.validated({**catalog_values(original, FREEZE_FIELDS), **{k: data[k] for k in FREEZE_FIELDS if k in data}})

    def create(self, actor, data):
        return catalog.freeze_create(actor=actor, **data)

    def update(self, actor, original, changes):
        return catalog.freeze_update(freeze_id=original.pk, actor=actor, **changes)

    def remove(self, actor, obj):
        catalog.freeze_delete(freeze_id=obj.pk, actor=actor)


@admin.register(Host)
class HostAdmin(ServiceAdmin):
    """Writes go through the catalog services and are audited with your username. Agent keys
    are trusted and revoked with `orbiter agents approve|revoke`; facts and last contact come
    from the agent."""

    list_display = ["certname", "environment", "healthy", "last_seen_at"]
    list_filter = ["environment", "healthy"]
    search_fields = ["certname"]
    fields = [*catalog.HOST_FIELDS, "last_seen_at", "agent_public_key", "agent_key_pending", "facts"]
    readonly_fields = ["last_seen_at", "agent_public_key", "agent_key_pending", "facts"]

    def validate(self, data, original):
        catalog.host_validate({**catalog_values(original, catalog.HOST_FIELDS),
                               **{k: v for k, v in data.items() if k != "applications"}}, host=original)

    def create(self, actor, data):
        return catalog.host_create(actor=actor, **data)

    def update(self, actor, original, changes):
        return catalog.host_update(host=original, actor=actor, **changes)

    def remove(self, actor, obj):
        catalog.host_delete(host=obj, actor=actor)


@admin.register(Artifact)
class ArtifactAdmin(ReadOnlyAdmin):
    """Read-only: builds are registered by the API (`POST /api/v1/artifacts`) or a watched
    repository, each audited."""

    list_display = ["__str__", "application", "found_at"]
    list_filter = ["application"]


@admin.register(Pin)
class PinAdmin(ReadOnlyAdmin):
    """Read-only: pins are what deployments and rollbacks set, each audited."""

    list_display = ["host", "application", "artifact", "updated_at"]
    list_filter = ["application"]


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(ReadOnlyAdmin):
    """Read-only: tokens are created with `orbiter agents token HOST` and expire; only their
    hashes are stored."""

    list_display = ["host", "created_by", "created_at", "expires_at", "used_at"]
    exclude = ["token_hash"]


def catalog_values(obj, names) -> dict:
    """The stored values the form's data is checked over (none when adding)."""
    if obj is None:
        return {}
    return {name: getattr(obj, name) for name in names if not obj._meta.get_field(name).many_to_many}
