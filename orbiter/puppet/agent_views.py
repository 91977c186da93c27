import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from orbiter.catalog.agents import agent_enroll, fingerprint
from orbiter.common.errors import OrbiterError, ValidationError

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
    if too_deep := _too_deep(body, MAX_DEPTH):
        raise ValidationError(f"{too_deep}: expected a string, not JSON nested {MAX_DEPTH}+ levels deep",
                              field=too_deep)
    try:
        data = json.loads(body or b"{}")
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


def _too_deep(body: bytes, limit: int) -> str:
    """The top-level key under which `body` nests deeper than `limit` ("body" if outside any),
    or "" — found by a scan of brackets outside strings, without parsing (json.loads would
    recurse once per level)."""
    depth, in_string, escaped, key, last_string, start = 0, False, False, "body", b"", 0
    for i, byte in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string, last_string = False, body[start:i]
        elif byte == 0x22:
            in_string, start = True, i + 1
        elif byte == 0x3A and depth == 1:  # ':' after a top-level key
            key = last_string.decode(errors="replace")[:64] or "body"
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return key if depth > 1 else "body"
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
            if depth == 1:
                key = "body"
    return ""
