"""Applications (with the versions each environment runs), artifacts, environments, hosts."""

from collections import defaultdict

import django_filters
from django.db.models import Count, Q
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.accounts import roles
from orbiter.api import access
from orbiter.api.fields import valid
from orbiter.api.schema import errors
from orbiter.catalog import freezes
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Application, Artifact, Environment, Host, Pin
from orbiter.common.errors import Forbidden, NotFound


class ApplicationOut(serializers.ModelSerializer):
    class Meta:
        model = Application
        fields = ["name", "package", "description", "created_at"]


class ApplicationList(generics.ListAPIView):
    """Applications, by name."""

    serializer_class = ApplicationOut

    @extend_schema(operation_id="applications_list", responses={200: ApplicationOut(many=True), **errors()})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Application.objects.none()
        apps = Application.objects.order_by("name")
        scoped = access.scoped_application_ids(self.request)
        return apps.filter(pk__in=scoped) if scoped is not None else apps


class ArtifactOut(serializers.ModelSerializer):
    application = serializers.SlugRelatedField(slug_field="name", read_only=True)
    version = serializers.CharField(source="label", read_only=True, help_text="version-release (epoch: when set)")
    nevra = serializers.SerializerMethodField()

    class Meta:
        model = Artifact
        fields = ["id", "application", "nevra", "version", "arch", "source_url", "build_url", "checksum", "found_at"]

    def get_nevra(self, artifact) -> str:
        return str(artifact)


class VersionOut(serializers.Serializer):
    version = serializers.CharField()
    hosts = serializers.IntegerField()


class EnvironmentVersionsOut(serializers.Serializer):
    environment = serializers.CharField()
    hosts = serializers.IntegerField(help_text="hosts of the environment that run the application")
    versions = VersionOut(many=True, help_text="pinned versions, most hosts first")
    drift = serializers.IntegerField(help_text="hosts whose installed version differs from the pin")


class ApplicationDetailOut(ApplicationOut):
    environments = serializers.SerializerMethodField()
    latest_artifacts = serializers.SerializerMethodField()

    class Meta(ApplicationOut.Meta):
        fields = [*ApplicationOut.Meta.fields, "environments", "latest_artifacts"]

    @extend_schema_field(EnvironmentVersionsOut(many=True))
    def get_environments(self, app):
        return self.context["environments"]

    @extend_schema_field(ArtifactOut(many=True))
    def get_latest_artifacts(self, app):
        return ArtifactOut(app.artifacts.order_by("-found_at", "-id")[:10], many=True).data


class ApplicationDetail(APIView):
    """One application: the versions pinned in each environment you may view, and its newest builds."""

    @extend_schema(operation_id="applications_retrieve", responses={200: ApplicationDetailOut, **errors(404)})
    def get(self, request, name: str):
        app = access.application(request, name)
        envs = Environment.objects.order_by("order", "name")
        visible = access.visible_environment_ids(request)
        if visible is not None:
            envs = envs.filter(pk__in=visible)
        versions = defaultdict(list)
        for row in (Pin.objects.filter(application=app, host__environment__in=envs)
                    .values("host__environment_id", "artifact__epoch", "artifact__version", "artifact__release")
                    .annotate(n=Count("id")).order_by("-n")):
            label = f"{row['artifact__version']}-{row['artifact__release']}"
            if row["artifact__epoch"]:
                label = f"{row['artifact__epoch']}:{label}"
            versions[row["host__environment_id"]].append({"version": label, "hosts": row["n"]})
        hosts = dict(Host.objects.filter(applications=app, environment__in=envs)
                     .values_list("environment_id").annotate(n=Count("id")))
        drift = _drift_counts(app, envs)
        rows = [{"environment": e.name, "hosts": hosts.get(e.pk, 0), "versions": versions.get(e.pk, []),
                 "drift": drift.get(e.pk, 0)} for e in envs]
        return Response(ApplicationDetailOut(app, context={"environments": rows}).data)


def _drift_counts(app: Application, envs) -> dict[int, int]:
    pins = dict(Pin.objects.filter(application=app).values_list("host_id", "artifact_id"))
    labels = {a.pk: a.label for a in Artifact.objects.filter(pk__in=set(pins.values()))}
    out: dict[int, int] = defaultdict(int)
    for host_id, env_id, facts in Host.objects.filter(applications=app, environment__in=envs).values_list(
            "pk", "environment_id", "facts"):
        packages = (facts or {}).get("packages") or {}
        if host_id in pins and app.package in packages and packages[app.package] != labels[pins[host_id]]:
            out[env_id] += 1
    return out


class ArtifactFilter(django_filters.FilterSet):
    application = django_filters.CharFilter(field_name="application__name", help_text="application name")

    class Meta:
        model = Artifact
        fields = []


class ArtifactList(generics.ListAPIView):
    """Builds, newest first; `?application=NAME` for one application's."""

    serializer_class = ArtifactOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = ArtifactFilter

    @extend_schema(operation_id="artifacts_list", responses={200: ArtifactOut(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Artifact.objects.none()
        artifacts = Artifact.objects.select_related("application").order_by("-found_at", "-id")
        return access.limit(artifacts, self.request, environment_field=None)


class ArtifactRegister(APIView):
    """Register a build (for CI). Idempotent: the same NEVRA again answers 200 with the first."""

    class ArtifactIn(serializers.Serializer):
        application = serializers.SlugField(max_length=63)
        nevra = serializers.CharField(max_length=300, help_text="name-[epoch:]version-release.arch")
        source_url = serializers.URLField(max_length=500, required=False, default="")
        build_url = serializers.URLField(max_length=500, required=False, default="")
        checksum = serializers.CharField(max_length=200, required=False, default="")

    @extend_schema(operation_id="artifacts_register", request=ArtifactIn,
                   responses={201: ArtifactOut, 200: ArtifactOut, **errors(400, 404)})
    def post(self, request):
        data = valid(self.ArtifactIn, request)
        app = Application.objects.filter(name=data["application"]).first()
        if app is None:
            raise NotFound(f"application {data['application']!r} does not exist", field="application")
        if not roles.can_somewhere(request.user, "deploy", application=app):
            raise Forbidden(f"{access.actor(request)} may not register builds of {app.name}: "
                            "needs the deployer role in some environment (and a token scoped to the application)")
        before = Artifact.objects.filter(application=app).count()
        artifact = catalog.artifact_register(
            application=app, nevra=data["nevra"], actor=access.actor(request), source_url=data["source_url"],
            build_url=data["build_url"], checksum=data["checksum"])
        created = Artifact.objects.filter(application=app).count() > before
        return Response(ArtifactOut(artifact).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class EnvironmentOut(serializers.ModelSerializer):
    locked = serializers.BooleanField(source="is_locked")
    frozen_until = serializers.SerializerMethodField()
    freeze_reason = serializers.SerializerMethodField()
    hosts = serializers.IntegerField(source="host_count", read_only=True)
    unhealthy_hosts = serializers.IntegerField(source="unhealthy_count", read_only=True)
    role = serializers.SerializerMethodField(help_text="your role there")

    class Meta:
        model = Environment
        fields = ["name", "order", "requires_approval", "min_approvals", "locked", "lock_reason", "locked_by",
                  "locked_at", "frozen_until", "freeze_reason", "hosts", "unhealthy_hosts", "role"]

    def _open(self, env):
        if not hasattr(env, "_open_freeze"):
            env._open_freeze = freezes.open_freeze(env)
        return env._open_freeze

    def get_frozen_until(self, env) -> str | None:
        found = self._open(env)
        return found.until.isoformat() if found else None

    def get_freeze_reason(self, env) -> str | None:
        found = self._open(env)
        return found.reason if found else None

    def get_role(self, env) -> str | None:
        return roles.role_for(self.context["request"].user, env)


def _environments(request):
    envs = (Environment.objects.order_by("order", "name").prefetch_related("freezes")
            .annotate(host_count=Count("hosts", distinct=True),
                      unhealthy_count=Count("hosts", filter=Q(hosts__healthy=False), distinct=True)))
    visible = access.visible_environment_ids(request)
    return envs.filter(pk__in=visible) if visible is not None else envs


class EnvironmentList(generics.ListAPIView):
    """Environments you may view, in pipeline order: protection, lock, open freeze, host health."""

    serializer_class = EnvironmentOut

    @extend_schema(operation_id="environments_list", responses={200: EnvironmentOut(many=True), **errors()})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Environment.objects.none()
        return _environments(self.request)


class EnvironmentDetail(APIView):
    @extend_schema(operation_id="environments_retrieve", responses={200: EnvironmentOut, **errors(404)})
    def get(self, request, name: str):
        env = access.environment(request, name)
        return environment_response(request, env)


def environment_response(request, env: Environment) -> Response:
    return Response(EnvironmentOut(_environments(request).get(pk=env.pk), context={"request": request}).data)


class HostApplicationOut(serializers.Serializer):
    application = serializers.CharField()
    pinned = serializers.CharField(allow_null=True, help_text="version Orbiter told Puppet to install")
    installed = serializers.CharField(allow_null=True, help_text="version the agent last reported")
    drift = serializers.BooleanField()


class HostOut(serializers.ModelSerializer):
    applications = serializers.SerializerMethodField()

    class Meta:
        model = Host
        fields = ["certname", "healthy", "last_seen_at", "labels", "applications"]

    @extend_schema_field(HostApplicationOut(many=True))
    def get_applications(self, host):
        pins = self.context["pins"]
        packages = (host.facts or {}).get("packages") or {}
        rows = []
        for app in host.applications.all():
            pinned = pins.get((host.pk, app.pk))
            installed = packages.get(app.package)
            rows.append({"application": app.name, "pinned": pinned, "installed": installed,
                         "drift": app.package in packages and pinned is not None and pinned != installed})
        return rows


class HostFilter(django_filters.FilterSet):
    healthy = django_filters.BooleanFilter()
    application = django_filters.CharFilter(field_name="applications__name", help_text="application name")
    q = django_filters.CharFilter(field_name="certname", lookup_expr="icontains", max_length=253,
                                  help_text="part of the certname")

    class Meta:
        model = Host
        fields = []


class HostList(generics.ListAPIView):
    """The hosts of an environment: health, last seen, and per application the pinned and
    installed versions (drift). Filters: `?healthy=true|false`, `?application=NAME`, `?q=` (certname)."""

    serializer_class = HostOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = HostFilter

    @extend_schema(operation_id="environments_hosts_list", responses={200: HostOut(many=True), **errors(400, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Host.objects.none()
        env = access.environment(self.request, self.kwargs["name"])
        return Host.objects.filter(environment=env).prefetch_related("applications").order_by("certname")

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        pins = Pin.objects.filter(host__in=[h.pk for h in page]).select_related("artifact")
        self._pins = {(p.host_id, p.application_id): p.artifact.label for p in pins}
        return page

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        serializer.context["pins"] = getattr(self, "_pins", {})
        return serializer
