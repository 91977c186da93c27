"""Locks and freeze windows: who may deploy when."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.api import access
from orbiter.api.fields import WallClock, valid
from orbiter.api.schema import errors
from orbiter.api.views.catalog import EnvironmentOut, environment_response
from orbiter.catalog import freezes
from orbiter.catalog import services as catalog
from orbiter.catalog.models import FreezeWindow
from orbiter.common.errors import NotFound


class EnvironmentProtect(APIView):
    """Change an environment's protection (admin): whether deployments need approval, and from
    how many distinct people (never the requester)."""

    class ProtectIn(serializers.Serializer):
        requires_approval = serializers.BooleanField(required=False)
        min_approvals = serializers.IntegerField(required=False, min_value=1, max_value=10)

    @extend_schema(operation_id="environments_protect", request=ProtectIn,
                   responses={200: EnvironmentOut, **errors(400, 404)})
    def patch(self, request, name: str):
        env = access.environment(request, name, "protect")
        data = valid(self.ProtectIn, request)
        catalog.environment_protect(
            environment=env, actor=access.actor(request),
            requires_approval=data.get("requires_approval", env.requires_approval),
            min_approvals=data.get("min_approvals", env.min_approvals),
        )
        return environment_response(request, env)


class EnvironmentLock(APIView):
    """Lock an environment (admin): nothing starts there until it is unlocked. Needs a reason."""

    class LockIn(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(operation_id="environments_lock", request=LockIn, responses={200: EnvironmentOut,
                                                                              **errors(400, 404, 409)})
    def post(self, request, name: str):
        env = access.environment(request, name, "lock")
        data = valid(self.LockIn, request)
        catalog.environment_lock(environment=env, reason=data["reason"], actor=access.actor(request))
        return environment_response(request, env)


class EnvironmentUnlock(APIView):
    @extend_schema(operation_id="environments_unlock", request=None, responses={200: EnvironmentOut,
                                                                               **errors(404, 409)})
    def post(self, request, name: str):
        env = access.environment(request, name, "unlock")
        catalog.environment_unlock(environment=env, actor=access.actor(request))
        return environment_response(request, env)


class FreezeOut(serializers.Serializer):
    id = serializers.IntegerField()
    environment = serializers.CharField(source="environment.name")
    kind = serializers.ChoiceField(choices=["once", "weekly"])
    reason = serializers.CharField()
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    weekdays = serializers.ListField(child=serializers.ChoiceField(choices=list(freezes.DAYS)))
    start_time = WallClock(allow_null=True)
    end_time = WallClock(allow_null=True)
    timezone = serializers.CharField()
    created_by = serializers.CharField()
    open_until = serializers.SerializerMethodField(help_text="when open now: when it closes; else null")

    def get_open_until(self, window) -> str | None:
        from django.utils import timezone

        found = freezes.open_at(window, timezone.now())
        return found.until.isoformat() if found else None


class FreezeIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["once", "weekly"], default="once")
    reason = serializers.CharField(max_length=200)
    starts_at = serializers.DateTimeField(required=False, allow_null=True, help_text="once: with offset")
    ends_at = serializers.DateTimeField(required=False, allow_null=True, help_text="once: with offset")
    weekdays = serializers.ListField(child=serializers.ChoiceField(choices=list(freezes.DAYS)), required=False,
                                     max_length=7, help_text="weekly: e.g. [\"fri\", \"sat\"]")
    start_time = WallClock(required=False, allow_null=True, help_text="weekly: HH:MM")
    end_time = WallClock(required=False, allow_null=True, help_text="weekly: HH:MM (at or before start: next day)")
    timezone = serializers.CharField(required=False, max_length=64, default="UTC", help_text="IANA, e.g. Europe/Paris")


class FreezePatch(FreezeIn):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


class FreezeList(generics.ListAPIView):
    """An environment's freeze windows (one-off date ranges and weekly ones)."""

    serializer_class = FreezeOut

    @extend_schema(operation_id="environments_freezes_list", responses={200: FreezeOut(many=True), **errors(404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return FreezeWindow.objects.none()
        env = access.environment(self.request, self.kwargs["name"])
        return FreezeWindow.objects.filter(environment=env).select_related("environment").order_by("id")


class FreezeCreate(APIView):
    """Add a freeze window (admin)."""

    @extend_schema(operation_id="environments_freezes_create", request=FreezeIn,
                   responses={201: FreezeOut, **errors(400, 404)})
    def post(self, request, name: str):
        env = access.environment(request, name, "freeze")
        data = valid(FreezeIn, request)
        window = catalog.freeze_create(environment=env, actor=access.actor(request), **data)
        return Response(FreezeOut(window).data, status=status.HTTP_201_CREATED)


def _freeze(request, freeze_id: int, action: str) -> FreezeWindow:
    window = FreezeWindow.objects.select_related("environment").filter(pk=freeze_id).first()
    if window is None:
        raise NotFound(f"freeze window #{freeze_id} does not exist")
    access.environment(request, window.environment.name, action)
    return window


class FreezeDetail(APIView):
    """One freeze window: read (viewer), change or delete (admin)."""

    @extend_schema(operation_id="freezes_retrieve", responses={200: FreezeOut, **errors(404)})
    def get(self, request, freeze_id: int):
        return Response(FreezeOut(_freeze(request, freeze_id, "view")).data)

    @extend_schema(operation_id="freezes_update", request=FreezePatch, responses={200: FreezeOut,
                                                                                **errors(400, 404)})
    def patch(self, request, freeze_id: int):
        _freeze(request, freeze_id, "freeze")
        serializer = FreezePatch(data=request.data)
        serializer.is_valid(raise_exception=True)
        window = catalog.freeze_update(freeze_id=freeze_id, actor=access.actor(request), **serializer.validated_data)
        return Response(FreezeOut(window).data)

    @extend_schema(operation_id="freezes_destroy", responses={204: None, **errors(404)})
    def delete(self, request, freeze_id: int):
        _freeze(request, freeze_id, "freeze")
        catalog.freeze_delete(freeze_id=freeze_id, actor=access.actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
