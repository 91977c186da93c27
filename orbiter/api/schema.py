"""OpenAPI helpers: the error shape as a component, and the error responses of a view."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

Error = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(help_text="machine-readable, e.g. invalid, forbidden, freeze_window"),
                "message": serializers.CharField(help_text="what is wrong and what is allowed"),
                "field": serializers.CharField(allow_null=True, help_text="the input field at fault, if any"),
            },
        )
    },
)

_WHY = {
    400: "invalid input",
    401: "not signed in, or a bad API token",
    403: "the role or the token's scope does not allow it",
    404: "no such object",
    409: "refused in the current state (preflight refusal, illegal transition, conflict)",
}


def errors(*codes: int) -> dict:
    """Error responses for @extend_schema(responses=...): 401 and 403 always, plus `codes`."""
    return {code: OpenApiResponse(Error, description=_WHY[code]) for code in sorted({401, 403, *codes})}
