import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from orbiter.common.errors import NotFound, ValidationError
from orbiter.puppet.enc import NotEnrolled, node_classification, render


@require_GET
def enc(request, certname: str):
    """GET /puppet/enc/<certname>: the node's classification as YAML.

    Authenticated by a bearer token (ORBITER_ENC_TOKEN: what a Puppet server sends for
    every node) or by a client-certificate header a fronting TLS proxy sets
    (ORBITER_ENC_CERT_HEADER, e.g. X-Client-Cert-CN), which must name the node itself:
    a host never reads another host's classification that way.
    """
    refusal = _refuse(request, certname)
    if refusal is not None:
        return refusal
    try:
        node = node_classification(certname)
    except ValidationError as error:
        return _text(f"error: {error.message}", 400)
    except NotFound as error:
        return _text(f"error: {error.message}", 404)
    except NotEnrolled as error:
        return _text(f"error: {error.message}", 403)
    return HttpResponse(render(node), content_type="application/x-yaml")


def _refuse(request, certname: str):
    token = settings.ORBITER_ENC_TOKEN
    header = settings.ORBITER_ENC_CERT_HEADER
    if not token and not header:
        if settings.MODE == "server":
            return _text("error: the ENC needs ORBITER_ENC_TOKEN or ORBITER_ENC_CERT_HEADER", 503)
        return None  # standalone and tests: local use
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return None
    if header and request.headers.get(header, "") == certname:
        return None
    return _text("error: a valid ENC token, or a client certificate for this node, is required", 401)


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain")
