"""One error shape for every API error: {"error": {"code": ..., "message": ..., "field": ...}}.

Orbiter's own errors carry their code and HTTP status (orbiter/common/errors.py); DRF's
(validation, authentication, permission, parsing, 404, 405) are translated here; so are
Django's Http404 and PermissionDenied. Validation errors name the first field in `field`
and list all of them in `fields`.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from orbiter.common.errors import OrbiterError

_DRF_CODES = {
    exceptions.NotAuthenticated: "unauthenticated",
    exceptions.AuthenticationFailed: "unauthenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.ParseError: "invalid",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "throttled",
}


def body(code: str, message: str, field: str | None = None, **more) -> dict:
    return {"error": {"code": code, "message": message, "field": field, **more}}


def exception_handler(exc, context):
    if isinstance(exc, OrbiterError):
        extra = {k: v for k, v in exc.extra.items() if k != "field" and _jsonable(v)}
        return Response(body(exc.code, exc.message, exc.extra.get("field"), **extra), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        field, message = next(iter(fields.items())) if fields else (None, "invalid input")
        shown = message if field in (None, "non_field_errors") else f"{field}: {message}"
        return Response(
            body("invalid", shown, None if field == "non_field_errors" else field, fields=fields),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        code = next((c for kind, c in _DRF_CODES.items() if isinstance(exc, kind)), "error")
        response = Response(body(code, str(exc.detail)), status=exc.status_code)
        if getattr(exc, "auth_header", None):  # set by DRF's APIView for 401s
            response["WWW-Authenticate"] = exc.auth_header
        if isinstance(exc, exceptions.Throttled) and exc.wait:
            response["Retry-After"] = str(int(exc.wait))
        return response
    return None  # a bug: Django's 500


@csrf_exempt  # any method, with or without a CSRF token, gets the JSON 404 (not Django's CSRF page)
def not_found(request, *args, **kwargs):
    """Unknown URLs under /api/ answer in the same shape."""
    return JsonResponse(body("not_found", f"no API endpoint at {request.path}"), status=404)


def _flatten(detail, prefix: str = "") -> dict[str, str]:
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list):
        if detail and all(not isinstance(d, dict | list) for d in detail):
            return {prefix or "non_field_errors": " ".join(str(d) for d in detail)}
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}[{index}]" if prefix else str(index)))
        return out
    return {prefix or "non_field_errors": str(detail)}


def _jsonable(value) -> bool:
    return isinstance(value, str | int | float | bool | type(None) | list | dict)
