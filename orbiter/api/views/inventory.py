"""Host sources (PuppetDB queries hosts come from): the list, and a sync on demand (admin)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.accounts import roles
from orbiter.api import access
from orbiter.api.fields import valid
from orbiter.api.schema import Error, errors
from orbiter.inventory import selectors
from orbiter.inventory.models import HostSource
from orbiter.inventory.sync import source_sync


class HostSourceOut(serializers.ModelSerializer):
    environment = serializers.CharField(source="environment.name")
    active_hosts = serializers.IntegerField(help_text="hosts of the source, not retired")
    retired_hosts = serializers.IntegerField(help_text="hosts gone from PuppetDB, kept with their history")

    class Meta:
        model = HostSource
        fields = ["name", "environment", "url", "query", "facts", "labels", "applications", "interval_s", "enabled",
                  "active_hosts", "retired_hosts", "next_sync_at", "last_attempt_at", "last_success_at",
                  "last_error", "last_summary"]


class HostSourceList(generics.ListAPIView):
    """Host sources of the environments you may view: hosts, last good sync, last error."""

    serializer_class = HostSourceOut

    @extend_schema(operation_id="host_sources_list", responses={200: HostSourceOut(many=True), **errors()})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return HostSource.objects.none()
        return selectors.sources(environment_ids=access.visible_environment_ids(self.request))


class SyncDiffOut(serializers.Serializer):
    source = serializers.CharField()
    dry_run = serializers.BooleanField()
    nodes = serializers.IntegerField(help_text="active nodes PuppetDB returned")
    created = serializers.ListField(child=serializers.CharField())
    reactivated = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    retired = serializers.ListField(child=serializers.CharField())
    retire_waiting = serializers.ListField(child=serializers.CharField(),
                                           help_text="gone, kept until the deployment involving them ends")
    clashes = serializers.ListField(child=serializers.CharField(),
                                    help_text="certnames of hosts listed by hand or of another source: untouched")
    unchanged = serializers.IntegerField()
    pool_members_added = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())
    counts = serializers.DictField(child=serializers.IntegerField())


class HostSourceSync(APIView):
    """Sync a host source now (admin of its environment): the diff, applied unless dry_run.
    PuppetDB down or answering garbage: 502, nothing changed, the error recorded on the source."""

    class SyncIn(serializers.Serializer):
        dry_run = serializers.BooleanField(default=False, help_text="compute the diff, change nothing")

    @extend_schema(operation_id="host_sources_sync", request=SyncIn,
                   responses={200: SyncDiffOut, **errors(400, 404),
                              502: OpenApiResponse(Error, description="PuppetDB could not be read")})
    def post(self, request, name: str):
        source = selectors.source_get(name, environment_ids=access.visible_environment_ids(request))
        access.require_role(request, roles.ADMIN, source.environment, doing=f"sync host source {source.name}")
        data = valid(self.SyncIn, request)
        diff = source_sync(source, actor=access.actor(request), dry_run=data["dry_run"])
        return Response(SyncDiffOut(diff.as_dict()).data)
