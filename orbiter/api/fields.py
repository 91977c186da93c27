"""Input helpers shared by the API views."""

from datetime import UTC

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def valid(serializer_class, request) -> dict:
    """The request body validated by `serializer_class` (DRF's ValidationError → the one error shape)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "example": "18:00"})
class WallClock(serializers.TimeField):
    """A wall-clock time without offset ("18:00"); OpenAPI's `format: time` would demand one."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class _InstantField(django_filters.fields.IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:  # PostgreSQL refuses offsets beyond ±15:59, and an offset can push year 1 below the range
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("out of range: use an ISO 8601 time between years 1 and 9999") from None


class InstantFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time, compared in UTC (any offset accepted, as ISO 8601 allows)."""

    field_class = _InstantField
