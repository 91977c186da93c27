"""Lead time per build and DORA aggregates (orbiter/metrics/selectors.py, docs/metrics.md)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.api import access
from orbiter.api.schema import errors
from orbiter.metrics import selectors


class LeadStageOut(serializers.Serializer):
    environment = serializers.CharField()
    order = serializers.IntegerField()
    deployment_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    requested_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    deployed_at = serializers.DateTimeField(allow_null=True, help_text="its first deployment there succeeded")
    deployed_after_s = serializers.FloatField(allow_null=True, help_text="seconds after the build was found")
    gates_passed_at = serializers.DateTimeField(allow_null=True)
    gates_passed_after_s = serializers.FloatField(allow_null=True)


class LeadTimeOut(serializers.Serializer):
    artifact = serializers.CharField(help_text="NEVRA")
    application = serializers.CharField()
    version = serializers.CharField()
    arch = serializers.CharField(allow_blank=True)
    found_at = serializers.DateTimeField()
    source_url = serializers.CharField(allow_blank=True)
    stages = LeadStageOut(many=True, help_text="every environment of the application, in pipeline order")
    production = serializers.CharField(allow_null=True, help_text="the last environment")
    in_production_at = serializers.DateTimeField(allow_null=True)
    lead_time_s = serializers.FloatField(allow_null=True, help_text="found → deployed in production")


class ArtifactLeadTime(APIView):
    """A build's lead time: found → deployed in each environment → its gates passed there → production."""

    @extend_schema(operation_id="artifacts_lead_time", responses={200: LeadTimeOut, **errors(404)})
    def get(self, request, artifact_id: int):
        artifact = access.artifact(request, artifact_id)
        report = selectors.lead_time(artifact)
        visible = access.visible_environment_ids(request)
        if visible is not None:
            names = set(access.environment_names(visible))
            report["stages"] = [s for s in report["stages"] if s["environment"] in names]
        return Response(LeadTimeOut(report).data)


class SummaryOut(serializers.Serializer):
    median = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)
    samples = serializers.IntegerField()


class DoraGroupOut(serializers.Serializer):
    application = serializers.CharField()
    environment = serializers.CharField()
    environment_order = serializers.IntegerField()
    deployments = serializers.IntegerField(help_text="succeeded in the window (rollbacks not counted)")
    deployment_frequency_per_day = serializers.FloatField()
    lead_time_s = SummaryOut(help_text="found → first success there")
    finished = serializers.IntegerField()
    failures = serializers.IntegerField(help_text="failed or rolled back")
    change_failure_rate = serializers.FloatField(allow_null=True)
    time_to_restore_s = SummaryOut()
    unrestored = serializers.IntegerField()


class DoraOut(serializers.Serializer):
    window_days = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    groups = DoraGroupOut(many=True, help_text="per application and environment")


class DoraIn(serializers.Serializer):
    application = serializers.SlugField(required=False, max_length=63)
    environment = serializers.SlugField(required=False, max_length=63)
    days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=selectors.MAX_DAYS)


class DoraMetrics(APIView):
    """DORA aggregates over the last `days` days per application and environment you may view:
    deployment frequency, lead time for changes, change failure rate, time to restore."""

    @extend_schema(operation_id="metrics_dora", parameters=[
        OpenApiParameter("application", str, description="one application"),
        OpenApiParameter("environment", str, description="one environment"),
        OpenApiParameter("days", int, description=f"the window, 1 to {selectors.MAX_DAYS} (default 30)"),
    ], responses={200: DoraOut, **errors(400, 404)})
    def get(self, request):
        query = DoraIn(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        if data.get("application"):
            access.application(request, data["application"])
        if data.get("environment"):
            access.environment(request, data["environment"])
        report = selectors.dora(application=data.get("application"), environment=data.get("environment"),
                                days=data["days"])
        visible = access.visible_environment_ids(request)
        scoped = access.scoped_application_ids(request)
        if visible is not None or scoped is not None:
            envs = set(access.environment_names(visible)) if visible is not None else None
            apps = set(access.application_names(scoped)) if scoped is not None else None
            report["groups"] = [g for g in report["groups"]
                                if (envs is None or g["environment"] in envs) and (apps is None or g["application"] in apps)]
        return Response(DoraOut(report).data)
