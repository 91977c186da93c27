from django.contrib import admin

from orbiter.loadbalancers.models import Pool, PoolMember, SimulatedMemberState


class PoolMemberInline(admin.TabularInline):
    model = PoolMember
    extra = 0


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = ["name", "application", "environment", "driver"]
    inlines = [PoolMemberInline]


@admin.register(SimulatedMemberState)
class SimulatedMemberStateAdmin(admin.ModelAdmin):
    list_display = ["pool", "member", "admin", "changed_at"]
