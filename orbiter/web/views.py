"""The read-only pages of the standalone demo (the full UI is its own piece of work)."""

from django.http import Http404, JsonResponse
from django.shortcuts import render

from orbiter.audit.models import Event
from orbiter.deployments.models import Deployment, HostDeployment


def deployments_page(request):
    deployments = list(
        Deployment.objects.select_related("application", "environment", "artifact").order_by("-id")[:50]
    )
    hosts: dict[int, list[HostDeployment]] = {}
    for hd in HostDeployment.objects.filter(deployment__in=deployments).select_related("host").order_by(
        "batch", "host__certname"
    ):
        hosts.setdefault(hd.deployment_id, []).append(hd)
    rows = [(d, hosts.get(d.pk, [])) for d in deployments]
    return render(request, "web/deployments.html", {"rows": rows})


def deployment_page(request, deployment_id: int):
    deployment = Deployment.objects.select_related("application", "environment", "artifact").filter(
        pk=deployment_id
    ).first()
    if deployment is None:
        raise Http404(f"deployment #{deployment_id} does not exist")
    hosts = deployment.hosts.select_related("host", "target_artifact").order_by("batch", "host__certname")
    events = Event.objects.filter(deployment_id=deployment.pk).order_by("id")[:500]
    return render(request, "web/deployment.html", {"d": deployment, "hosts": hosts, "events": events})


def healthz(request):
    return JsonResponse({"ok": True})
