"""Agents that enrolled under a certname no host has (admins for all environments): list,
assign (creates the host), reject, unreject, forget. The services are catalog/unassigned.py."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.accounts import roles
from orbiter.api import access
from orbiter.api.fields import valid
from orbiter.api.schema import errors
from orbiter.catalog import unassigned
from orbiter.catalog.models import UnassignedHost

WHAT = "see or decide on unassigned hosts"


class UnassignedOut(serializers.Serializer):
    certname = serializers.CharField()
    fingerprint = serializers.CharField(help_text="of the key it offered: compare with `orbiter-agent keygen`'s on "
                                                  "the host")
    public_key = serializers.CharField(help_text="the Ed25519 key (base64) it offered")
    first_seen_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    attempts = serializers.IntegerField(help_text="offers of this key")
    rejected_at = serializers.DateTimeField(allow_null=True)
    rejected_by = serializers.CharField()


class UnassignedList(generics.ListAPIView):
    """Agents that offered a key under a certname no host has, waiting for an admin. Rejected
    ones only with `?rejected=true` (then all of them)."""

    serializer_class = UnassignedOut

    @extend_schema(operation_id="unassigned_hosts_list", responses={200: UnassignedOut(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return UnassignedHost.objects.none()
        roles.require_admin_everywhere(self.request.user, WHAT)
        return unassigned.unassigned_list(rejected=None if self.request.query_params.get("rejected") == "true"
                                          else False)


class AssignIn(serializers.Serializer):
    environment = serializers.SlugField(max_length=63)
    applications = serializers.ListField(child=serializers.SlugField(max_length=63), required=False, default=list,
                                         max_length=100)
    labels = serializers.DictField(child=serializers.CharField(max_length=200, allow_blank=True), required=False,
                                   default=dict)
    fingerprint = serializers.CharField(required=False, allow_blank=True, default="", max_length=100,
                                        help_text="read on the host: trusts the key at once; without it the key "
                                                  "stays pending approval")


class AssignOut(serializers.Serializer):
    certname = serializers.CharField()
    environment = serializers.CharField(source="environment.name")
    applications = serializers.SerializerMethodField()
    labels = serializers.DictField(child=serializers.CharField())
    agent_key = serializers.SerializerMethodField(help_text="trusted, or pending approval")

    def get_applications(self, host) -> list[str]:
        return sorted(host.applications.values_list("name", flat=True))

    def get_agent_key(self, host) -> str:
        return "trusted" if host.agent_public_key else "pending"


class UnassignedAssign(APIView):
    """Create the host for a waiting certname; its offered key becomes the host's pending key
    (trusted at once with the fingerprint read on the host)."""

    @extend_schema(operation_id="unassigned_hosts_assign", request=AssignIn,
                   responses={201: AssignOut, **errors(400, 404, 409)})
    def post(self, request, certname: str):
        roles.require_admin_everywhere(request.user, WHAT)
        data = valid(AssignIn, request)
        host = unassigned.unassigned_assign(certname=certname, environment=data["environment"],
                                            applications=data["applications"],
                                            labels=data["labels"], expected_fingerprint=data["fingerprint"],
                                            actor=access.actor(request))
        host.refresh_from_db()
        return Response(AssignOut(host).data, status=status.HTTP_201_CREATED)


def _row_response(certname: str):
    [row] = [row for row in unassigned.unassigned_list() if row.certname == certname]
    return Response(UnassignedOut(row).data)


class UnassignedReject(APIView):
    """Reject a waiting certname: the row stays, later offers under it change nothing."""

    @extend_schema(operation_id="unassigned_hosts_reject", request=None,
                   responses={200: UnassignedOut, **errors(404, 409)})
    def post(self, request, certname: str):
        roles.require_admin_everywhere(request.user, WHAT)
        unassigned.unassigned_reject(certname=certname, actor=access.actor(request))
        return _row_response(certname)


class UnassignedUnreject(APIView):
    """Undo a rejection: the certname waits again with the key it first offered."""

    @extend_schema(operation_id="unassigned_hosts_unreject", request=None,
                   responses={200: UnassignedOut, **errors(404, 409)})
    def post(self, request, certname: str):
        roles.require_admin_everywhere(request.user, WHAT)
        unassigned.unassigned_unreject(certname=certname, actor=access.actor(request))
        return _row_response(certname)


class UnassignedForget(APIView):
    """Remove the row (room under the cap of 1,000); the certname's next offer starts afresh."""

    @extend_schema(operation_id="unassigned_hosts_forget", request=None, responses={204: None, **errors(404)})
    def delete(self, request, certname: str):
        roles.require_admin_everywhere(request.user, WHAT)
        unassigned.unassigned_forget(certname=certname, actor=access.actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
