from django.contrib import admin

from orbiter.common.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceAdmin
from orbiter.loadbalancers import services
from orbiter.loadbalancers.models import Pool, PoolMember, SimulatedMemberState


class PoolMemberInline(ReadOnlyInline):
    model = PoolMember
    fields = ["host", "member"]
    show_change_link = True


@admin.register(Pool)
class PoolAdmin(ServiceAdmin):
    """Writes go through the pool services: the driver's options are checked and every change
    is audited with your username. Members are added on the pool member page."""

    list_display = ["name", "application", "environment", "driver"]
    fields = services.POOL_FIELDS
    inlines = [PoolMemberInline]

    def validate(self, data, original):
        stored = {name: getattr(original, name) for name in services.POOL_FIELDS} if original else {}
        services.pool_validate({**stored, **data})

    def create(self, actor, data):
        return services.pool_create(actor=actor, **data)

    def update(self, actor, original, changes):
        return services.pool_update(pool=original, actor=actor, **changes)

    def remove(self, actor, obj):
        services.pool_delete(pool=obj, actor=actor)


@admin.register(PoolMember)
class PoolMemberAdmin(ServiceAdmin):
    """Writes go through the pool services: the host must be in the pool's environment, and
    every change is audited with your username."""

    list_display = ["pool", "host", "member"]
    list_filter = ["pool"]
    search_fields = ["member", "host__certname"]
    fields = services.MEMBER_FIELDS

    def validate(self, data, original):
        stored = {name: getattr(original, name) for name in services.MEMBER_FIELDS} if original else {}
        services.pool_member_validate({**stored, **data})

    def create(self, actor, data):
        return services.pool_member_create(actor=actor, **data)

    def update(self, actor, original, changes):
        return services.pool_member_update(pool_member=original, actor=actor, **changes)

    def remove(self, actor, obj):
        services.pool_member_delete(pool_member=obj, actor=actor)


@admin.register(SimulatedMemberState)
class SimulatedMemberStateAdmin(ReadOnlyAdmin):
    """Read-only: the simulated load balancer's own state, which deployments drain and restore."""

    list_display = ["pool", "member", "admin", "changed_at"]
