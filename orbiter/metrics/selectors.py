"""Lead time per artifact and DORA aggregates, as plain dicts ready for JSON.

Times are ISO 8601 strings in UTC, durations seconds (float). Definitions (docs/metrics.md):

- An artifact is *deployed* in an environment when a deployment of it (not a rollback)
  first succeeded there. Environments are the application's (where it has hosts or was
  deployed), in `Environment.order`; *production* is the last of them.
- Over a window of `days` up to now, per application and environment, counting
  deployments that are not rollbacks:
  - deployments: those that succeeded in the window (finished_at inside it);
    deployment_frequency_per_day = that count / days;
  - lead_time_s: for each of them that is its artifact's first success in that environment,
    succeeded − artifact found; median and p90 (nearest rank);
  - change_failure_rate: (failed + rolled back) / (succeeded + failed + rolled back), by the
    deployments' current status, finished in the window; None when none finished;
  - time_to_restore_s: for each failure in the window (failed: when it failed; rolled back:
    when the rollback was asked), until the next deployment of the same application and
    environment that succeeded (a rollback counts: it restores service); median and p90;
    `unrestored` counts failures not followed by a success yet.
"""

import math
import statistics
from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Artifact, Environment, Host
from orbiter.common.errors import NotFound, ValidationError
from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from orbiter.metrics import hooks

MAX_DAYS = 365
FAILED_OUTCOMES = frozenset({states.FAILED, states.ROLLED_BACK})
FINISHED_OUTCOMES = FAILED_OUTCOMES | {states.SUCCEEDED}


# --- per artifact -----------------------------------------------------------------------------


def lead_time(artifact: Artifact) -> dict:
    """Found → deployed in each environment (→ gates passed there) → production."""
    app = artifact.application
    environments = application_environments(app)
    deployments = list(
        Deployment.objects.filter(artifact=artifact, is_rollback=False).order_by("id")
    )
    succeeded: dict[int, datetime] = {}  # deployment -> when it (first) succeeded, even if rolled back since
    for deployment_id, at in Event.objects.filter(
        deployment_id__in=[d.pk for d in deployments], object_type="deployment", verb="deployment.succeed"
    ).order_by("id").values_list("deployment_id", "created_at"):
        succeeded.setdefault(deployment_id, at)
    gates = hooks.gates_passed(artifact)
    stages = []
    for env in environments:
        mine = [d for d in deployments if d.environment_id == env.pk]
        first = min((d for d in mine if d.pk in succeeded), key=lambda d: succeeded[d.pk], default=None)
        shown = first or (mine[-1] if mine else None)
        deployed_at = succeeded[first.pk] if first else None
        stages.append({
            "environment": env.name,
            "order": env.order,
            "deployment_id": shown.pk if shown else None,
            "status": shown.status if shown else None,
            "requested_at": _iso(shown.created_at) if shown else None,
            "started_at": _iso(shown.started_at) if shown else None,
            "deployed_at": _iso(deployed_at),
            "deployed_after_s": _seconds(artifact.found_at, deployed_at),
            "gates_passed_at": _iso(gates.get(env.pk)),
            "gates_passed_after_s": _seconds(artifact.found_at, gates.get(env.pk)),
        })
    production = stages[-1] if stages else None
    return {
        "artifact": str(artifact),
        "application": app.name,
        "version": artifact.label,
        "arch": artifact.arch,
        "found_at": _iso(artifact.found_at),
        "source_url": artifact.source_url,
        "stages": stages,
        "production": production["environment"] if production else None,
        "in_production_at": production["deployed_at"] if production else None,
        "lead_time_s": production["deployed_after_s"] if production else None,
    }


def application_environments(app: Application) -> list[Environment]:
    """Where the application runs or was deployed, in pipeline order."""
    return list(
        Environment.objects.filter(Q(hosts__applications=app) | Q(deployments__application=app))
        .distinct()
        .order_by("order", "name")
    )


# --- aggregates -------------------------------------------------------------------------------


def dora(application: str | None = None, environment: str | None = None, days: int = 30, *,
         now: datetime | None = None) -> dict:
    """DORA aggregates per (application, environment) over the last `days` days."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"days: {days!r} is not allowed; give whole days from 1 to {MAX_DAYS}", field="days")
    app = _named(Application, "application", application)
    env = _named(Environment, "environment", environment)
    until = now or timezone.now()
    since = until - timedelta(days=days)

    scope = Q()
    if app:
        scope &= Q(application=app)
    if env:
        scope &= Q(environment=env)
    rows = list(
        Deployment.objects.filter(scope, started_at__isnull=False)
        .filter(Q(finished_at__gte=since) | Q(finished_at__isnull=True))
        .values("id", "application_id", "environment_id", "artifact_id", "status", "is_rollback",
                "rollback_of_id", "created_at", "finished_at", "artifact__found_at")
    )
    rollback_asked = {r["rollback_of_id"]: r["created_at"] for r in rows if r["rollback_of_id"]}
    earlier = _succeeded_before(rows, since)

    groups: dict[tuple[int, int], dict] = {key: _empty_group() for key in _hosted_pairs(app, env)}
    first_success: dict[tuple[int, int], datetime] = {}  # (artifact, environment) -> first success in window
    for r in sorted(rows, key=lambda r: (r["finished_at"] is None, r["finished_at"] or until)):
        g = groups.setdefault((r["application_id"], r["environment_id"]), _empty_group())
        if r["status"] == states.SUCCEEDED:
            g["successes"].append(r["finished_at"])
        if r["is_rollback"]:
            continue
        if r["status"] in FINISHED_OUTCOMES:
            g["finished"] += 1
        if r["status"] == states.SUCCEEDED:
            g["deployments"] += 1
            pair = (r["artifact_id"], r["environment_id"])
            if pair not in earlier and pair not in first_success:
                first_success[pair] = r["finished_at"]
                g["lead"].append((r["finished_at"] - r["artifact__found_at"]).total_seconds())
        elif r["status"] in FAILED_OUTCOMES:
            g["failures"] += 1
            failed_at = (rollback_asked.get(r["id"]) if r["status"] == states.ROLLED_BACK else None) or r["finished_at"]
            g["failed_at"].append(failed_at)

    names = _names(groups)
    result = []
    def pipeline_order(item):
        (app_id, env_id), _ = item
        return names[0][app_id], names[2][env_id], names[1][env_id]

    for (app_id, env_id), g in sorted(groups.items(), key=pipeline_order):
        restore = []
        unrestored = 0
        for failed_at in g["failed_at"]:
            after = [s for s in g["successes"] if s > failed_at]
            if after:
                restore.append((min(after) - failed_at).total_seconds())
            else:
                unrestored += 1
        result.append({
            "application": names[0][app_id],
            "environment": names[1][env_id],
            "environment_order": names[2][env_id],
            "deployments": g["deployments"],
            "deployment_frequency_per_day": round(g["deployments"] / days, 4),
            "lead_time_s": _summary(g["lead"]),
            "finished": g["finished"],
            "failures": g["failures"],
            "change_failure_rate": round(g["failures"] / g["finished"], 4) if g["finished"] else None,
            "time_to_restore_s": _summary(restore),
            "unrestored": unrestored,
        })
    return {"window_days": days, "since": _iso(since), "until": _iso(until), "groups": result}


def _empty_group() -> dict:
    return {"deployments": 0, "finished": 0, "failures": 0, "lead": [], "failed_at": [], "successes": []}


def _succeeded_before(rows: list[dict], since: datetime) -> set[tuple[int, int]]:
    """(artifact, environment) pairs among `rows` whose artifact had succeeded there before the window."""
    artifacts = {r["artifact_id"] for r in rows if r["status"] == states.SUCCEEDED and not r["is_rollback"]}
    if not artifacts:
        return set()
    return set(
        Deployment.objects.filter(artifact_id__in=artifacts, status=states.SUCCEEDED, is_rollback=False,
                                  finished_at__lt=since).values_list("artifact_id", "environment_id")
    )


def _hosted_pairs(app: Application | None, env: Environment | None) -> set[tuple[int, int]]:
    """(application, environment) pairs with hosts, so that quiet ones show zeros."""
    through = Host.applications.through.objects.all()
    if app:
        through = through.filter(application=app)
    if env:
        through = through.filter(host__environment=env)
    return set(through.values_list("application_id", "host__environment_id").distinct())


def _names(groups) -> tuple[dict, dict, dict]:
    apps = dict(Application.objects.filter(pk__in={a for a, _ in groups}).values_list("pk", "name"))
    envs = Environment.objects.filter(pk__in={e for _, e in groups}).values_list("pk", "name", "order")
    return apps, {pk: name for pk, name, _ in envs}, {pk: order for pk, _, order in envs}


def _named(model, field: str, name):
    if name is None or name == "":
        return None
    if isinstance(name, model):
        return name
    found = model.objects.filter(name=name).first()
    if found is None:
        known = ", ".join(model.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise NotFound(f"{field}: {name!r} is unknown; known: {known}", field=field)
    return found


def _summary(samples: list[float]) -> dict:
    if not samples:
        return {"median": None, "p90": None, "samples": 0}
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 3),
        "samples": len(ordered),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if end else None
