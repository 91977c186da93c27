"""Pipelines: an application's pipeline with its runs, "why isn't this promoting?", and what a
person does to a run (approve a promotion, retry, decide a gate, let a build skip stages)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.accounts import roles
from orbiter.api import access
from orbiter.api.fields import valid
from orbiter.api.schema import errors
from orbiter.catalog.models import Environment
from orbiter.common.errors import NotFound
from orbiter.pipelines import overview, selectors, services, states
from orbiter.pipelines.models import GateRun, StageRun

# --- output --------------------------------------------------------------------------------


class GateRunOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="for POST gate-runs/{id}/decide")
    name = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(allow_blank=True, help_text="command, http, jenkins or manual")
    status = serializers.ChoiceField(choices=states.GATE_STATUSES)
    attempts = serializers.IntegerField()
    allowed_attempts = serializers.IntegerField()
    outcome = serializers.CharField(allow_blank=True, help_text="last attempt: passed, failed, inconclusive, timeout (or empty)")
    message = serializers.CharField(allow_blank=True)
    output = serializers.CharField(allow_blank=True, help_text="the tail of the last attempt's output")
    link = serializers.CharField(allow_blank=True, help_text="e.g. the Jenkins build (or empty)")
    decided_by = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    decidable = serializers.BooleanField(help_text="a person may decide it now (manual gate waiting, or paused)")


class StageRunOut(serializers.Serializer):
    environment = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=states.STAGE_STATUSES)
    message = serializers.CharField(allow_blank=True)
    deployment = serializers.IntegerField(allow_null=True)
    deployment_status = serializers.CharField(allow_blank=True, allow_null=True)
    approved_by = serializers.CharField(allow_blank=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    deployed_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    gates = GateRunOut(many=True)


class RunOut(serializers.Serializer):
    id = serializers.IntegerField()
    artifact_id = serializers.IntegerField()
    version = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=states.RUN_STATUSES)
    message = serializers.CharField(allow_blank=True)
    started_by = serializers.CharField(allow_blank=True)
    superseded_by = serializers.CharField(allow_blank=True, allow_null=True, help_text="the newer version that took its place")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    moving = serializers.BooleanField(help_text="on its way by itself (nothing to explain)")
    why = serializers.CharField(allow_blank=True, help_text="where it stands and what it waits for, in one sentence")
    reason = serializers.CharField(allow_blank=True, help_text="the sentence's code: gate_failed, approval, locked, freeze, …")
    stages = StageRunOut(many=True)


class StageGateOut(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(allow_blank=True)
    retries = serializers.IntegerField()
    timeout_s = serializers.FloatField()


class StageOut(serializers.Serializer):
    environment = serializers.CharField(allow_blank=True)
    promotion = serializers.ChoiceField(choices=["automatic", "approval"])
    url = serializers.CharField(allow_blank=True)
    gates = StageGateOut(many=True)


class WaitingOut(serializers.Serializer):
    artifact_id = serializers.IntegerField()
    version = serializers.CharField(allow_blank=True)
    why = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    moving = serializers.BooleanField()


class PipelineOut(serializers.Serializer):
    application = serializers.CharField(allow_blank=True)
    continuous_delivery = serializers.BooleanField()
    policy = serializers.ChoiceField(choices=["queue", "supersede"])
    stages = StageOut(many=True)
    runs = RunOut(many=True, help_text="the newest runs, newest first")
    waiting = WaitingOut(many=True, help_text="newest builds not in the pipeline, and why")


class WhyOut(serializers.Serializer):
    sentence = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True, help_text="gate_failed, gate_paused, approval, locked, freeze, superseded, "
                                             "queued, deployment_failed, deploying, gates_running, manual_gate, "
                                             "continuous_delivery_off, no_pipeline, done, …")
    details = serializers.JSONField(help_text="the run, every stage run, the current stage's gates with their "
                                              "output, the lock or freeze")


# --- reads ---------------------------------------------------------------------------------


class ApplicationPipeline(APIView):
    """An application's pipeline: stages (gates, promotion), continuous delivery on or off, the
    policy, and the newest runs with each stage's and gate's state and output. 404 when the
    application has no pipeline."""

    @extend_schema(operation_id="applications_pipeline_retrieve", responses={200: PipelineOut, **errors(404)})
    def get(self, request, name: str):
        app = access.application(request, name)
        found = overview.pipeline_overview(app)
        if found is None:
            raise NotFound(f"{app.name} has no pipeline; define one with: orbiter pipeline apply FILE")
        return Response(PipelineOut(found).data)


class ArtifactWhy(APIView):
    """"Why isn't this promoting?": one sentence with the details behind it (for any build, moving
    or not)."""

    @extend_schema(operation_id="artifacts_why", responses={200: WhyOut, **errors(404)})
    def get(self, request, artifact_id: int):
        artifact = access.artifact(request, artifact_id)
        return Response(WhyOut(selectors.why_not_promoting(artifact)).data)


# --- what a person does --------------------------------------------------------------------


def _answer(run, code=status.HTTP_200_OK) -> Response:
    return Response(RunOut(overview.run_overview(run)).data, status=code)


class RunApprove(APIView):
    """Approve the promotion of a run's build into a stage that waits for it (approver role in
    that stage's environment). When the environment also protects its deployments, this
    approval counts for the deployment too."""

    class ApproveIn(serializers.Serializer):
        stage = serializers.SlugField(max_length=63, help_text="the stage's environment, e.g. production")

    @extend_schema(operation_id="pipeline_runs_approve", request=ApproveIn,
                   responses={200: RunOut, **errors(400, 404, 409)})
    def post(self, request, run_id: int):
        run = access.pipeline_run(request, run_id)
        data = valid(self.ApproveIn, request)
        env = Environment.objects.filter(name=data["stage"]).first()
        if env is None:
            raise NotFound(f"environment {data['stage']!r} does not exist", field="stage")
        roles.require(request.user, "approve", env, application=run.pipeline.application)
        services.pipeline_approve(run=run, stage=env.name, actor=access.actor(request))
        return _answer(run)


class RunRetry(APIView):
    """Resume a paused run or retry a failed one: its paused or failed gates run again (all
    their attempts), a failed deployment is asked again (deployer role where the run stands)."""

    @extend_schema(operation_id="pipeline_runs_retry", request=None, responses={200: RunOut, **errors(404, 409)})
    def post(self, request, run_id: int):
        run = access.pipeline_run(request, run_id)
        current = (StageRun.objects.filter(run=run).exclude(status__in=[states.PASSED, states.S_CANCELLED])
                   .select_related("environment").order_by("position").first())
        app = run.pipeline.application
        if current is not None:
            roles.require(request.user, "retry", current.environment, application=app)
        elif not roles.can_somewhere(request.user, "retry", application=app):
            roles.require(request.user, "retry", None, application=app)
        services.pipeline_retry(run=run, actor=access.actor(request))
        return _answer(run)


class GateDecide(APIView):
    """A person decides a manual gate that waits, or a paused one (timed out, inconclusive):
    pass or fail, with a comment (recorded with their name). Deployer role in the stage's environment."""

    class DecideIn(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["pass", "fail"])
        comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)

    @extend_schema(operation_id="gate_runs_decide", request=DecideIn, responses={200: RunOut, **errors(400, 404, 409)})
    def post(self, request, gate_run_id: int):
        gate_run = (GateRun.objects.select_related("stage_run__environment", "stage_run__run__pipeline__application")
                    .filter(pk=gate_run_id).first())
        if gate_run is None:
            raise NotFound(f"gate run #{gate_run_id} does not exist")
        run = access.pipeline_run(request, gate_run.stage_run.run_id)
        data = valid(self.DecideIn, request)
        roles.require(request.user, "retry", gate_run.stage_run.environment, application=run.pipeline.application)
        services.gate_decide(gate_run=gate_run, passed=data["decision"] == "pass", actor=access.actor(request),
                             comment=data["comment"])
        return _answer(run)


class StageOverrideOut(serializers.Serializer):
    id = serializers.IntegerField()
    artifact_id = serializers.IntegerField()
    version = serializers.CharField(source="artifact.label")
    environment = serializers.CharField(source="environment.name")
    actor = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class StageOverrideCreate(APIView):
    """Let a build be deployed to an environment without passing the pipeline stages before it
    (admin role in that environment; a reason is required; recorded in the audit trail)."""

    class OverrideIn(serializers.Serializer):
        environment = serializers.SlugField(max_length=63)
        reason = serializers.CharField(max_length=2000, help_text="why the stages are skipped (audited)")

    @extend_schema(operation_id="artifacts_stage_override", request=OverrideIn,
                   responses={201: StageOverrideOut, **errors(400, 404)})
    def post(self, request, artifact_id: int):
        artifact = access.artifact(request, artifact_id)
        data = valid(self.OverrideIn, request)
        env = Environment.objects.filter(name=data["environment"]).first()
        if env is None:
            raise NotFound(f"environment {data['environment']!r} does not exist", field="environment")
        access.require_role(request, roles.ADMIN, env, doing="let a build skip pipeline stages",
                            application=artifact.application)
        granted = services.stage_override_grant(artifact=artifact, environment=env.name,
                                                actor=access.actor(request), reason=data["reason"])
        return Response(StageOverrideOut(granted).data, status=status.HTTP_201_CREATED)
