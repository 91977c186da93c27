import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from orbiter.catalog.agents import agent_enroll, fingerprint
from orbiter.common.errors import OrbiterError, ValidationError
from orbiter.common.json_input import deeper_than

MAX_BODY_BYTES = 16 * 1024  # a certname, a 44-character key and a token fit many times over
MAX_FIELD_CHARS = {"certname": 253, "public_key": 1024, "token": 256}
MAX_DEPTH = 8  # the body is one flat object of strings; anything deeper is refused unparsed


@csrf_exempt  # called by agents, not browsers; the token (or an admin's approval) is the proof
@require_POST
def enroll(request):
    """POST /agents/enroll {"certname", "public_key", "token"?} -> {"status": "trusted"|"pending"}.

    Answered before anyone is authenticated: bounded (size, depth, types, NUL-free strings)
    before parsing or any query, and the same "pending" answer whether the host exists or not."""
    try:
        data = _enrollment_request(request.body)
        status = agent_enroll(certname=data["certname"], public_key=data["public_key"], token=data["token"])
    except ValidationError as error:
        return JsonResponse({"message": error.message}, status=400)
    except OrbiterError as error:
        return JsonResponse({"message": error.message}, status=403)
    return JsonResponse({"status": status, "fingerprint": fingerprint(data["public_key"].strip())})


def _enrollment_request(body: bytes) -> dict[str, str]:
    if len(body) > MAX_BODY_BYTES:
        raise ValidationError(f"body: at most {MAX_BODY_BYTES} bytes", field="body")
    try:
        text = body.decode() or "{}"
    except UnicodeDecodeError:
        raise ValidationError("body: expected a JSON object (UTF-8)", field="body") from None
    if too_deep := deeper_than(text, MAX_DEPTH):
        raise ValidationError(f"{too_deep}: expected a string, not JSON nested {MAX_DEPTH}+ levels deep",
                              field=too_deep)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ValidationError("body: expected a JSON object", field="body") from None
    if not isinstance(data, dict):
        raise ValidationError("body: expected a JSON object", field="body")
    fields = {}
    for name, limit in MAX_FIELD_CHARS.items():
        value = data.get(name, "" if name == "token" else None)
        if not isinstance(value, str) or (name != "token" and not value):
            raise ValidationError(f"{name}: required (a string)", field=name)
        if "\x00" in value:
            raise ValidationError(f"{name}: NUL characters are not allowed", field=name)
        if len(value) > limit:
            raise ValidationError(f"{name}: at most {limit} characters", field=name)
        fields[name] = value
    return fields
