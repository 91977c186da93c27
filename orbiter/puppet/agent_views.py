import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from orbiter.catalog.agents import agent_enroll, fingerprint
from orbiter.common.errors import NotFound, OrbiterError, ValidationError


@csrf_exempt  # called by agents, not browsers; the token (or an admin's approval) is the proof
@require_POST
def enroll(request):
    """POST /agents/enroll {"certname", "public_key", "token"?} -> {"status": "trusted"|"pending"}."""
    try:
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return JsonResponse({"message": "body: expected a JSON object"}, status=400)
    for name in ("certname", "public_key"):
        if not isinstance(data.get(name), str) or not data[name]:
            return JsonResponse({"message": f"{name}: required (a string)"}, status=400)
    try:
        status = agent_enroll(certname=data["certname"], public_key=data["public_key"], token=str(data.get("token", "")))
    except NotFound as error:
        return JsonResponse({"message": error.message}, status=404)
    except ValidationError as error:
        return JsonResponse({"message": error.message}, status=400)
    except OrbiterError as error:
        return JsonResponse({"message": error.message}, status=403)
    return JsonResponse({"status": status, "fingerprint": fingerprint(data["public_key"].strip())})
