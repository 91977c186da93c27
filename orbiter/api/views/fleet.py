"""The fleet as code over HTTP: apply fleet documents (with `dry_run` for the diff), export the
catalog. Admins of every environment only: both act on the whole catalog."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.accounts import roles
from orbiter.api import access
from orbiter.api.fields import valid
from orbiter.api.schema import errors
from orbiter.common.errors import Forbidden, ValidationError
from orbiter.fleet.schema import KINDS


def require_fleet_admin(request, doing: str) -> None:
    """Admin in all environments (a superuser, or a binding without environment), and never
    through a token limited to some environments or applications."""
    token = getattr(request.user, roles.TOKEN_ATTRIBUTE, None)
    if token is not None and (token.environment_ids or token.application_ids):
        raise Forbidden(f"API token {token.name!r} is limited to some environments or applications; {doing} "
                        "acts on the whole catalog: use a token without limits", action="fleet")
    held = roles.role_for(request.user, None)
    if not roles.includes(held, roles.ADMIN):
        raise Forbidden(f"{access.actor(request)} may not {doing}: needs the admin role in all environments, "
                        + (f"has {held}" if held else "has none"), action="fleet", needed=roles.ADMIN, role=held)


class FleetFileIn(serializers.Serializer):
    name = serializers.CharField(max_length=500)
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class FleetApplyIn(serializers.Serializer):
    yaml = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                 help_text="one YAML text, one or more documents")
    files = FleetFileIn(many=True, required=False, help_text="YAML files, applied in this order (names show in errors)")
    documents = serializers.ListField(child=serializers.JSONField(), required=False,
                                     help_text="the documents as JSON objects")
    dry_run = serializers.BooleanField(default=False, help_text="answer the diff; change nothing")
    prune = serializers.BooleanField(default=False,
                                     help_text="delete objects of the kinds given that the documents do not list")

    def validate(self, data):
        given = [key for key in ("yaml", "files", "documents") if key in data]
        if len(given) != 1:
            raise serializers.ValidationError({"yaml": "give exactly one of yaml, files or documents"})
        return data


class FleetFieldChangeOut(serializers.Serializer):
    path = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class FleetChangeOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(KINDS))
    name = serializers.CharField()
    action = serializers.ChoiceField(choices=["create", "update", "delete"])
    source = serializers.CharField(allow_null=True)
    document = serializers.IntegerField(allow_null=True)
    fields = FleetFieldChangeOut(many=True)


class FleetSummaryOut(serializers.Serializer):
    create = serializers.IntegerField()
    update = serializers.IntegerField()
    delete = serializers.IntegerField()


class FleetApplyOut(serializers.Serializer):
    applied = serializers.BooleanField(help_text="false for a dry run")
    summary = FleetSummaryOut()
    changes = FleetChangeOut(many=True)


class FleetApply(APIView):
    """Apply fleet documents (docs/fleet.md) in one transaction, or with `dry_run` only say
    what would change. A refusal is a 400 naming the document and the path inside it, with
    every problem under `problems`; nothing is written."""

    @extend_schema(operation_id="fleet_apply", request=FleetApplyIn, responses={200: FleetApplyOut, **errors(400)})
    def post(self, request):
        from orbiter.fleet import documents
        from orbiter.fleet.apply import fleet_apply

        require_fleet_admin(request, "apply the fleet")
        data = valid(FleetApplyIn, request)
        if "yaml" in data:
            found = documents.parse_text(data["yaml"], "request")
        elif "files" in data:
            if len(data["files"]) > documents.MAX_FILES:
                raise ValidationError(f"files: at most {documents.MAX_FILES}", field="files")
            if sum(len(f["content"]) for f in data["files"]) > documents.MAX_BYTES:
                raise ValidationError(f"files: larger than {documents.MAX_BYTES // (1024 * 1024)} MiB together",
                                      field="files")
            found = [d for f in data["files"] for d in documents.parse_text(f["content"], f["name"])]
        else:
            found = documents.from_data(data["documents"])
        outcome = fleet_apply(documents=found, actor=access.actor(request), prune=data["prune"],
                              dry_run=data["dry_run"])
        return Response(outcome.as_dict())


class FleetExport(APIView):
    """The catalog as one fleet document (what `orbiter export` prints, as JSON)."""

    @extend_schema(operation_id="fleet_export", responses={200: {"type": "object"}, **errors(400)},
                   parameters=[OpenApiParameter("kind", str, many=True, enum=list(KINDS),
                                                description="only these kinds (repeatable)")])
    def get(self, request):
        from orbiter.fleet.export import fleet_export

        require_fleet_admin(request, "export the fleet")
        kinds = request.query_params.getlist("kind")
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValidationError(f"kind: {unknown[0]!r} is not a kind; allowed: {', '.join(KINDS)}", field="kind")
        return Response(fleet_export(kinds or None))
