from django.contrib import admin

from orbiter.common.admin import ReadOnlyAdmin, ReadOnlyInline
from orbiter.pipelines.models import (
    Gate,
    GateRun,
    Pipeline,
    PipelineRun,
    Stage,
    StageOverride,
    StageRun,
)


class StageInline(ReadOnlyInline):
    model = Stage


@admin.register(Pipeline)
class PipelineAdmin(ReadOnlyAdmin):
    """Read-only: a pipeline is applied whole from its file (`orbiter pipeline apply FILE`),
    which validates every stage and gate and audits the change."""

    list_display = ("application", "continuous_delivery", "policy", "updated_at")
    inlines = [StageInline]


class GateInline(ReadOnlyInline):
    model = Gate


@admin.register(Stage)
class StageAdmin(ReadOnlyAdmin):
    """Read-only: stages change with their pipeline (`orbiter pipeline apply FILE`)."""

    list_display = ("pipeline", "position", "environment", "promotion", "url")
    inlines = [GateInline]


class StageRunInline(ReadOnlyInline):
    model = StageRun
    fields = ("position", "environment", "status", "deployment", "approved_by", "message")


@admin.register(PipelineRun)
class PipelineRunAdmin(ReadOnlyAdmin):
    """Read-only: runs change through the services (approve, retry, decide), which audit them."""

    list_display = ("id", "pipeline", "artifact", "status", "message", "created_at", "finished_at")
    list_filter = ("status",)
    inlines = [StageRunInline]


@admin.register(GateRun)
class GateRunAdmin(ReadOnlyAdmin):
    """Read-only: gates are run and decided through the services, which audit them."""

    list_display = ("id", "stage_run", "name", "kind", "status", "attempts", "outcome", "message")
    list_filter = ("status", "kind")


@admin.register(StageOverride)
class StageOverrideAdmin(ReadOnlyAdmin):
    """Read-only: granted through `orbiter pipeline override`, which records the Event."""

    list_display = ("artifact", "environment", "actor", "reason", "created_at")
