import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orbiter.metrics.collector import registry


@require_GET
def metrics(request):
    """Prometheus text format. With ORBITER_METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    token = settings.ORBITER_METRICS_TOKEN
    if token and not hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                         f"Bearer {token}".encode()):
        response = HttpResponse("401: /metrics needs the header 'Authorization: Bearer <ORBITER_METRICS_TOKEN>'\n",
                                status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="orbiter-metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
