from django.contrib import admin

from orbiter.common.admin import ReadOnlyAdmin
from orbiter.converge.models import SimulatedConvergeRun


@admin.register(SimulatedConvergeRun)
class SimulatedConvergeRunAdmin(ReadOnlyAdmin):
    """Read-only: what the simulated converge driver did."""

    list_display = ["request_id", "certname", "version", "ok", "performed_at"]
