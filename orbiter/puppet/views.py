import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from orbiter.common.errors import NotFound, ValidationError
from orbiter.puppet.enc import node_classification, render


@require_GET
def enc(request, certname: str):
    """GET /puppet/enc/<certname>: the node's classification as YAML.

    With ORBITER_ENC_TOKEN set (required in server mode), the caller sends
    `Authorization: Bearer <token>`.
    """
    token = settings.ORBITER_ENC_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("error: a valid ENC token is required\n", status=401, content_type="text/plain")
    elif not settings.DEBUG and settings.MODE == "server":
        return HttpResponse("error: ORBITER_ENC_TOKEN is not configured\n", status=503, content_type="text/plain")
    try:
        node = node_classification(certname)
    except ValidationError as error:
        return HttpResponse(f"error: {error.message}\n", status=400, content_type="text/plain")
    except NotFound as error:
        return HttpResponse(f"error: {error.message}\n", status=404, content_type="text/plain")
    return HttpResponse(render(node), content_type="application/x-yaml")
