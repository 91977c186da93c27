"""What a person does to a pipeline run from the application page: approve a promotion,
retry a failed or paused run, decide a gate. Same services and role checks as the API."""

from django.shortcuts import get_object_or_404
from django.urls import reverse

from orbiter.catalog.models import Environment
from orbiter.common.errors import ValidationError
from orbiter.pipelines import services, states
from orbiter.pipelines.models import GateRun, PipelineRun, StageRun
from orbiter.web.views.common import action, back


def _page_of(run: PipelineRun) -> str:
    return reverse("application", args=[run.pipeline.application.name]) + "#pipeline"


def _run(run_id: int) -> PipelineRun:
    return get_object_or_404(PipelineRun.objects.select_related("artifact", "pipeline__application"), pk=run_id)


def _fallback(run_id: int | None = None, gate_run_id: int | None = None) -> str:
    if gate_run_id is not None:
        found = GateRun.objects.filter(pk=gate_run_id).values_list("stage_run__run_id", flat=True).first()
        run_id = found
    run = PipelineRun.objects.select_related("pipeline__application").filter(pk=run_id).first()
    return _page_of(run) if run else "/"


@action(fallback=_fallback)
def run_approve(request, access, run_id: int):
    run = _run(run_id)
    env = get_object_or_404(Environment, name=request.POST.get("stage", ""))
    access.require("approve", env)
    services.pipeline_approve(run=run, stage=env.name, actor=request.user.get_username())
    return back(request, _page_of(run))


@action(fallback=_fallback)
def run_retry(request, access, run_id: int):
    run = _run(run_id)
    current = (StageRun.objects.filter(run=run).exclude(status__in=[states.PASSED, states.S_CANCELLED])
               .select_related("environment").order_by("position").first())
    if current is not None:
        access.require("retry", current.environment)
    services.pipeline_retry(run=run, actor=request.user.get_username())
    return back(request, _page_of(run))


@action(fallback=_fallback)
def gate_decide(request, access, gate_run_id: int):
    gate_run = get_object_or_404(GateRun.objects.select_related("stage_run__environment"), pk=gate_run_id)
    access.require("retry", gate_run.stage_run.environment)
    decision = request.POST.get("decision", "")
    if decision not in ("pass", "fail"):
        raise ValidationError(f"decision: {decision!r} is not allowed; allowed: pass, fail", field="decision")
    services.gate_decide(gate_run=gate_run, passed=decision == "pass", actor=request.user.get_username(),
                         comment=request.POST.get("comment", "")[:2000])
    return back(request, _page_of(_run(gate_run.stage_run.run_id)))
