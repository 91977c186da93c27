"""The audit trail: search every recorded change."""

import django_filters
from django import forms
from django.db.models import Q
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics

from orbiter.accounts import roles
from orbiter.api import access
from orbiter.api.fields import InstantFilter
from orbiter.api.schema import errors
from orbiter.api.views.deployments import EventOut
from orbiter.audit.models import Event
from orbiter.audit.selectors import events_visible_to
from orbiter.common.errors import Forbidden


class IPFilter(django_filters.CharFilter):
    field_class = forms.GenericIPAddressField  # a bad address is a 400, never a database error


class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class EventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter()
    verb = django_filters.CharFilter(lookup_expr="startswith", help_text="prefix, e.g. deployment. or environment.lock")
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    deployment = IdFilter(field_name="deployment_id", min_value=1, max_value=2**63 - 1)
    source_ip = IPFilter()
    since = InstantFilter(field_name="created_at", lookup_expr="gte")
    until = InstantFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="search", help_text="text in actor, verb, object id or message")

    class Meta:
        model = Event
        fields = []

    def search(self, queryset, name, value):
        value = value[:200]
        return queryset.filter(Q(actor__icontains=value) | Q(verb__icontains=value) | Q(object_id=value)
                               | Q(data__message__icontains=value))


class EventList(generics.ListAPIView):
    """Audit events, newest first: who (actor, source IP) changed what (verb, object), before
    and after. Filters: actor, verb (prefix), object_type, object_id, deployment, source_ip,
    since, until, q. Shows only the events of environments you may view, and API tokens'
    events to their owner (admins of every environment see all). Not open to API tokens
    limited to some applications or environments."""

    serializer_class = EventOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = EventFilter

    @extend_schema(operation_id="audit_events_list", responses={200: EventOut(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Event.objects.none()
        user = self.request.user
        token = getattr(user, roles.TOKEN_ATTRIBUTE, None)
        if token is not None and (token.environment_ids or token.application_ids):
            raise Forbidden(f"API token {token.name!r} is limited to some applications or environments; "
                            "the audit trail covers all of them")
        if not roles.can_somewhere(user, "view"):
            raise Forbidden(f"{access.actor(self.request)} may not view any environment")
        return events_visible_to(user).order_by("-id")
