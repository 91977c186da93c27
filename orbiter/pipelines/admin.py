from django.contrib import admin

from orbiter.pipelines.models import (
    Gate,
    GateRun,
    Pipeline,
    PipelineRun,
    Stage,
    StageOverride,
    StageRun,
)


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("application", "continuous_delivery", "policy", "updated_at")
    inlines = [StageInline]


class GateInline(admin.TabularInline):
    model = Gate
    extra = 0


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ("pipeline", "position", "environment", "promotion", "url")
    inlines = [GateInline]


class StageRunInline(admin.TabularInline):
    model = StageRun
    extra = 0
    fields = ("position", "environment", "status", "deployment", "approved_by", "message")
    readonly_fields = fields
    can_delete = False


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    # Read-only: runs change through the services (approve, retry, decide), which audit them.
    list_display = ("id", "pipeline", "artifact", "status", "message", "created_at", "finished_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in PipelineRun._meta.fields]
    inlines = [StageRunInline]

    def has_add_permission(self, request):
        return False


@admin.register(GateRun)
class GateRunAdmin(admin.ModelAdmin):
    list_display = ("id", "stage_run", "name", "kind", "status", "attempts", "outcome", "message")
    list_filter = ("status", "kind")
    readonly_fields = [f.name for f in GateRun._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(StageOverride)
class StageOverrideAdmin(admin.ModelAdmin):
    list_display = ("artifact", "environment", "actor", "reason", "created_at")
    readonly_fields = ("artifact", "environment", "actor", "reason", "created_at")

    def has_add_permission(self, request):
        return False  # granted through services.stage_override_grant, which records the Event
