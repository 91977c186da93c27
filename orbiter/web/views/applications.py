"""An application: its builds and where each runs, its pipeline, its deployment history."""

from django.shortcuts import get_object_or_404, render

from orbiter.catalog.models import Application, Artifact, Environment
from orbiter.deployments import states
from orbiter.metrics.selectors import lead_time
from orbiter.pipelines import states as pipeline_states
from orbiter.pipelines.overview import pipeline_overview
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
    }
    if request.headers.get("HX-Request") and request.GET.get("part") == "history":
        return render(request, "web/partials/history.html", context)
    context["pipeline"] = _pipeline(app, access)
    return render(request, "web/application.html", context)


RUNS_SHOWN = 8


def _pipeline(app: Application, access) -> dict | None:
    """The pipeline panel: the stages (those you may view) as columns, the newest runs as rows
    with each stage's state, gates (output folded) and the buttons your role allows there,
    the sentence saying why a build is not moving, and its lead time."""
    found = pipeline_overview(app, limit=RUNS_SHOWN)
    if found is None:
        return None
    visible = {env.name: env for env in access.environments("view")}
    stages = [s for s in found["stages"] if s["environment"] in visible]
    artifacts = Artifact.objects.in_bulk([r["artifact_id"] for r in found["runs"]])
    for run in found["runs"]:
        by_env = {s["environment"]: s for s in run["stages"]}
        current = next((s for s in run["stages"] if s["status"] not in (pipeline_states.PASSED,
                                                                        pipeline_states.S_CANCELLED)), None)
        where = visible.get(current["environment"]) if current else None
        run["may_retry"] = run["status"] in (pipeline_states.PAUSED, pipeline_states.FAILED) and (
            access.can("retry", where) if where else current is None and bool(access.environments("retry")))
        lead = lead_time(artifacts[run["artifact_id"]])
        after = {s["environment"]: s["deployed_after_s"] for s in lead["stages"]}
        run["lead_time_s"] = lead["lead_time_s"]
        run["cells"] = []
        for stage in stages:
            env = visible[stage["environment"]]
            cell = by_env.get(stage["environment"])
            if cell is not None:
                cell["deployed_after_s"] = after.get(env.name)
                cell["may_approve"] = (cell["status"] == pipeline_states.S_AWAITING_APPROVAL
                                       and access.can("approve", env))
                for gate in cell["gates"]:
                    gate["may_decide"] = gate["decidable"] and access.can("retry", env)
            run["cells"].append(cell)
    found["stages"] = stages
    return found


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
