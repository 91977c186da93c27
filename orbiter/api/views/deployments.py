"""Deployments: plan preview, create, history, detail, hosts, events, the actions, approvals."""

import django_filters
from django.db.models import Count
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.accounts import roles
from orbiter.accounts.selectors import approvals_inbox, approvers_of
from orbiter.api import access
from orbiter.api.fields import InstantFilter, valid
from orbiter.api.schema import errors
from orbiter.audit.models import Event
from orbiter.common.errors import IllegalTransition
from orbiter.deployments import selectors, services, states
from orbiter.deployments.models import Deployment, HostDeployment

_DEPLOYMENT_ACTIONS = ("pause", "resume", "cancel", "retry", "rollback", "approve", "reject")


class DeploymentOut(serializers.ModelSerializer):
    application = serializers.CharField(source="application.name")
    environment = serializers.CharField(source="environment.name")
    version = serializers.CharField(source="artifact.label")
    requested_by = serializers.CharField(source="requested_by_name")
    batches = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = ["id", "application", "environment", "version", "status", "requested_by", "comment",
                  "is_rollback", "rollback_of", "queued_behind", "cancel_requested", "current_batch", "batches",
                  "message", "created_at", "started_at", "finished_at"]

    def get_batches(self, deployment) -> int:
        return len(deployment.plan or [])


class ApprovalsOut(serializers.Serializer):
    needed = serializers.IntegerField()
    approvers = serializers.ListField(child=serializers.CharField())


class ProgressOut(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())


class DeploymentDetailOut(DeploymentOut):
    strategy = serializers.JSONField()
    progress = serializers.SerializerMethodField()
    approvals = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField(help_text="actions your role allows here")

    class Meta(DeploymentOut.Meta):
        fields = [*DeploymentOut.Meta.fields, "strategy", "progress", "approvals", "allowed_actions"]

    @extend_schema_field(ProgressOut)
    def get_progress(self, deployment):
        counts = dict(HostDeployment.objects.filter(deployment=deployment).values_list("status")
                      .annotate(n=Count("id")))
        return {"total": sum(counts.values()), "by_status": counts}

    @extend_schema_field(ApprovalsOut)
    def get_approvals(self, deployment):
        needed = max(1, deployment.environment.min_approvals) if deployment.environment.requires_approval else 0
        return {"needed": needed, "approvers": approvers_of([deployment.pk]).get(deployment.pk, [])}

    def get_allowed_actions(self, deployment) -> list[str]:
        """Actions both your role and the deployment's status allow now."""
        user = self.context["request"].user
        return [a for a in _DEPLOYMENT_ACTIONS if _legal(deployment, a)
                and roles.can(user, a, deployment.environment, application=deployment.application)]


def _legal(deployment: Deployment, action: str) -> bool:
    if action == "retry":  # failed hosts of a running or paused deployment can be retried too
        return deployment.status in (states.FAILED, states.RUNNING, states.PAUSED) and not deployment.cancel_requested
    try:
        states.target("deployment", deployment.status, action)
    except IllegalTransition:
        return False
    return not (action == "cancel" and deployment.cancel_requested)


def _detail(request, deployment: Deployment, code=status.HTTP_200_OK) -> Response:
    fresh = Deployment.objects.select_related("application", "environment", "artifact").get(pk=deployment.pk)
    return Response(DeploymentDetailOut(fresh, context={"request": request}).data, status=code)


class RequestIn(serializers.Serializer):
    application = serializers.CharField(max_length=63)
    environment = serializers.CharField(max_length=63)
    version = serializers.CharField(max_length=200, help_text="version-release, e.g. 2.4.1-3")
    strategy = serializers.DictField(required=False, default=dict, help_text=(
        "overrides of the application's rollout defaults: batch_size, canary, canary_pause, "
        "pause_between_batches, failure_budget, max_attempts, ..."))
    queue = serializers.BooleanField(required=False, default=False,
                                     help_text="queue behind an active deployment instead of refusing")


class DeploymentCreate(APIView):
    """Request a deployment. Preflight refusals answer 409 with their code (e.g. freeze_window,
    downgrade, deployment_in_progress). In a protected environment it waits for approval."""

    class DeploymentIn(RequestIn):
        comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)
        override_freeze = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=500,
            help_text="admins: the reason to deploy through an open freeze window (recorded)")

    @extend_schema(operation_id="deployments_create", request=DeploymentIn,
                   responses={201: DeploymentDetailOut, **errors(400, 409)})
    def post(self, request):
        data = valid(self.DeploymentIn, request)
        env = access.requested_environment(request, data["environment"], "deploy", application=data["application"])
        if env is not None and data["override_freeze"].strip():
            roles.require(request.user, "override_freeze", env, application=data["application"])
        deployment = services.deployment_create(
            application=data["application"], environment=data["environment"], version=data["version"],
            actor=access.actor(request), user=request.user, strategy=data["strategy"], queue=data["queue"],
            comment=data["comment"], override_freeze=data["override_freeze"])
        return _detail(request, deployment, status.HTTP_201_CREATED)


class BatchOut(serializers.Serializer):
    number = serializers.IntegerField()
    hosts = serializers.ListField(child=serializers.CharField())
    lb_actions = serializers.ListField(child=serializers.CharField())
    eta_s = serializers.FloatField()


class PlanOut(serializers.Serializer):
    application = serializers.CharField()
    environment = serializers.CharField()
    version = serializers.CharField()
    strategy = serializers.JSONField()
    batches = BatchOut(many=True)
    eta_s = serializers.FloatField()
    waits_for = serializers.CharField()
    needs_approval = serializers.BooleanField()


class PlanPreview(APIView):
    """What a deployment would do — batches, load-balancer actions, expected duration — after
    the same preflight checks as a real request. Writes nothing."""

    @extend_schema(operation_id="plan_preview", request=RequestIn, responses={200: PlanOut, **errors(400, 409)})
    def post(self, request):
        data = valid(RequestIn, request)
        access.requested_environment(request, data["environment"], "view", application=data["application"])
        plan = selectors.plan_preview(application=data["application"], environment=data["environment"],
                                      version=data["version"], strategy=data["strategy"], queue=data["queue"],
                                      user=request.user)
        return Response(plan.as_dict())


class DeploymentFilter(django_filters.FilterSet):
    application = django_filters.CharFilter(field_name="application__name")
    environment = django_filters.CharFilter(field_name="environment__name")
    status = django_filters.MultipleChoiceFilter(choices=[(s, s) for s in states.DEPLOYMENT_STATUSES])
    requested_by = django_filters.CharFilter(field_name="requested_by_name")
    version = django_filters.CharFilter(field_name="artifact__version")
    since = InstantFilter(field_name="created_at", lookup_expr="gte")
    until = InstantFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Deployment
        fields = []


class DeploymentList(generics.ListAPIView):
    """Deployment history, newest first. Filters: application, environment, status (repeatable),
    requested_by, version, since, until."""

    serializer_class = DeploymentOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = DeploymentFilter

    @extend_schema(operation_id="deployments_list", responses={200: DeploymentOut(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Deployment.objects.none()
        found = Deployment.objects.select_related("application", "environment", "artifact").order_by("-id")
        return access.limit(found, self.request)


class DeploymentDetail(APIView):
    @extend_schema(operation_id="deployments_retrieve", responses={200: DeploymentDetailOut, **errors(404)})
    def get(self, request, deployment_id: int):
        return _detail(request, access.deployment(request, deployment_id))


class HostDeploymentOut(serializers.ModelSerializer):
    certname = serializers.CharField(source="host.certname")
    batch = serializers.SerializerMethodField(help_text="numbered from 1")
    version = serializers.CharField(source="target_artifact.label")

    class Meta:
        model = HostDeployment
        fields = ["certname", "batch", "status", "version", "round", "attempt", "puppet", "error", "log_tail",
                  "started_at", "finished_at"]

    def get_batch(self, hd) -> int:
        return hd.batch + 1


class HostDeploymentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=[(s, s) for s in states.HOST_STATUSES])

    class Meta:
        model = HostDeployment
        fields = []


class DeploymentHosts(generics.ListAPIView):
    """The hosts of a deployment by batch: status, step attempt, Puppet summary, log tail, error."""

    serializer_class = HostDeploymentOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = HostDeploymentFilter

    @extend_schema(operation_id="deployments_hosts_list", responses={200: HostDeploymentOut(many=True),
                                                                    **errors(400, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return HostDeployment.objects.none()
        deployment = access.deployment(self.request, self.kwargs["deployment_id"])
        return (HostDeployment.objects.filter(deployment=deployment).select_related("host", "target_artifact")
                .order_by("batch", "host__certname"))


class EventOut(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "created_at", "actor", "verb", "object_type", "object_id", "before", "after",
                  "deployment_id", "source_ip", "data"]


class DeploymentEvents(generics.ListAPIView):
    """A deployment's timeline, oldest first."""

    serializer_class = EventOut

    @extend_schema(operation_id="deployments_events_list", responses={200: EventOut(many=True), **errors(404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Event.objects.none()
        deployment = access.deployment(self.request, self.kwargs["deployment_id"])
        return Event.objects.filter(deployment_id=deployment.pk).order_by("id")


class _Action(APIView):
    """POST deployments/{id}/<action>: checks the role for the action in the deployment's
    environment, calls the service, answers the deployment as it is now."""

    action = ""
    Input = None

    def run(self, deployment: Deployment, actor: str, data: dict):
        raise NotImplementedError

    def post(self, request, deployment_id: int):
        deployment = access.deployment(request, deployment_id, self.action)
        data = valid(self.Input, request) if self.Input is not None else {}
        result = self.run(deployment, access.actor(request), data)
        return _detail(request, result or deployment)


def _action_schema(action: str, doc: str, input_=None, code: int = 200):
    return extend_schema(operation_id=f"deployments_{action}", request=input_, description=doc,
                         responses={code: DeploymentDetailOut, **errors(400, 404, 409)})


class DeploymentPause(_Action):
    action = "pause"

    @_action_schema("pause", "Pause: hosts in flight finish their step, no new ones start.")
    def post(self, request, deployment_id: int):
        return super().post(request, deployment_id)

    def run(self, deployment, actor, data):
        return services.deployment_pause(deployment_id=deployment.pk, actor=actor)


class DeploymentResume(_Action):
    action = "resume"

    @_action_schema("resume", "Resume a paused deployment.")
    def post(self, request, deployment_id: int):
        return super().post(request, deployment_id)

    def run(self, deployment, actor, data):
        return services.deployment_resume(deployment_id=deployment.pk, actor=actor)


class DeploymentCancel(_Action):
    action = "cancel"

    @_action_schema("cancel", "Cancel: hosts in flight finish safely and go back in service; the rest are skipped.")
    def post(self, request, deployment_id: int):
        return super().post(request, deployment_id)

    def run(self, deployment, actor, data):
        return services.deployment_cancel(deployment_id=deployment.pk, actor=actor)


class DeploymentRetry(_Action):
    action = "retry"

    @_action_schema("retry", "Give the failed and skipped hosts another round.")
    def post(self, request, deployment_id: int):
        return super().post(request, deployment_id)

    def run(self, deployment, actor, data):
        return services.deployment_retry(deployment_id=deployment.pk, actor=actor)


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class RollbackIn(ReasonIn):
    override_approval = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=500,
        help_text="admins: the reason to roll back without the approval the environment asks for (recorded)")


class DeploymentRollback(_Action):
    action = "rollback"
    Input = RollbackIn

    @_action_schema("rollback", "Roll back: answers the new rollback deployment (201). In an environment "
                    "that needs approval the rollback waits for it, unless an admin overrides.", RollbackIn, 201)
    def post(self, request, deployment_id: int):
        deployment = access.deployment(request, deployment_id, self.action)
        data = valid(RollbackIn, request)
        if data["override_approval"].strip():
            access.require_role(request, roles.ADMIN, deployment.environment, doing="roll back without approval",
                                application=deployment.application)
        child = services.deployment_rollback(deployment_id=deployment.pk, actor=access.actor(request),
                                             reason=data["reason"], user=request.user,
                                             override_approval=data["override_approval"])
        return _detail(request, child, status.HTTP_201_CREATED)


class CommentIn(serializers.Serializer):
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class DeploymentApprove(_Action):
    action = "approve"
    Input = CommentIn

    @_action_schema("approve", "Approve (not your own request). The deployment is accepted once the "
                    "environment's minimum number of distinct approvers have approved.", CommentIn)
    def post(self, request, deployment_id: int):
        return super().post(request, deployment_id)

    def run(self, deployment, actor, data):
        return services.deployment_approve(deployment_id=deployment.pk, actor=actor, user=self.request.user,
                                           comment=data["comment"])


class DeploymentReject(_Action):
    action = "reject"
    Input = ReasonIn

    @_action_schema("reject", "Reject a deployment awaiting approval.", ReasonIn)
    def post(self, request, deployment_id: int):
        return super().post(request, deployment_id)

    def run(self, deployment, actor, data):
        return services.deployment_reject(deployment_id=deployment.pk, actor=actor, reason=data["reason"])


class InboxOut(DeploymentOut):
    approvals = serializers.SerializerMethodField()

    class Meta(DeploymentOut.Meta):
        fields = [*DeploymentOut.Meta.fields, "approvals"]

    @extend_schema_field(ApprovalsOut)
    def get_approvals(self, deployment):
        return {"needed": max(1, deployment.environment.min_approvals),
                "approvers": self.context["approvers"].get(deployment.pk, [])}


class ApprovalsInbox(generics.ListAPIView):
    """Deployments waiting for your approval: in environments where you are an approver, not
    requested by you, not yet approved by you. Oldest first."""

    serializer_class = InboxOut

    @extend_schema(operation_id="approvals_list", responses={200: InboxOut(many=True), **errors()})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Deployment.objects.none()
        return approvals_inbox(self.request.user)

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        page = args[0] if args else []
        serializer.context["approvers"] = approvers_of([d.pk for d in page])
        return serializer


