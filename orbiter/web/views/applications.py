"""An application: its builds and where each runs, its pipeline, its deployment history."""

from django.shortcuts import get_object_or_404, render

from orbiter.catalog.models import Application, Environment
from orbiter.deployments import states
from orbiter.web import selectors
from orbiter.web.views.common import page


@page
def application(request, access, name: str):
    app = get_object_or_404(Application, name=name)
    env_ids = access.environment_ids("view")
    environment = _chosen_environment(request, env_ids)
    status = request.GET.get("status", "")
    if status not in states.DEPLOYMENT_STATUSES:
        status = ""
    history = selectors.deployment_history(
        environment_ids=env_ids, application=app, environment=environment, status=status or None,
        before=_int(request.GET.get("before")),
    )
    context = {
        "app": app,
        "placements": selectors.artifact_placements(app, env_ids),
        "environments": access.environments("view"),
        "deployable": bool(access.environments("deploy")),
        "history": history,
        "statuses": states.DEPLOYMENT_STATUSES,
        "chosen_environment": environment.name if environment else "",
        "chosen_status": status,
        # The pipeline (stages, gates, promotions) lands with its own issue; the template
        # shows this slot's content when set.
        "pipeline": None,
    }
    if request.headers.get("HX-Request") and request.GET.get("part") == "history":
        return render(request, "web/partials/history.html", context)
    return render(request, "web/application.html", context)


def _chosen_environment(request, env_ids: list[int]) -> Environment | None:
    name = request.GET.get("environment", "")
    if not name:
        return None
    return Environment.objects.filter(name=name, pk__in=env_ids).first()


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
