from django.contrib import admin

from orbiter.converge.models import SimulatedConvergeRun


@admin.register(SimulatedConvergeRun)
class SimulatedConvergeRunAdmin(admin.ModelAdmin):
    list_display = ["request_id", "certname", "version", "ok", "performed_at"]
