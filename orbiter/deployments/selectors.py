"""Reads: the plan preview (batches, load-balancer actions, ETA) and deployment views."""

from dataclasses import dataclass, field

from django.db.models import F

from orbiter.deployments import preflight
from orbiter.deployments.models import HostDeployment
from orbiter.deployments.strategy import Strategy, make_plan
from orbiter.loadbalancers.models import PoolMember

# Used when a host has no finished deployment to learn from (seconds).
DEFAULT_STEP_SECONDS = {"draining": 5.0, "converging": 60.0, "verifying": 5.0, "enabling": 5.0}


@dataclass
class PlannedBatch:
    number: int
    hosts: list[str]
    lb_actions: list[str]
    eta_s: float


@dataclass
class Plan:
    application: str
    environment: str
    version: str
    strategy: dict
    batches: list[PlannedBatch] = field(default_factory=list)
    eta_s: float = 0.0
    waits_for: str = ""
    needs_approval: bool = False

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def plan_preview(*, application: str, environment: str, version: str, strategy: dict | None = None,
                 queue: bool = False, user=None) -> Plan:
    """What a deployment would do, computed like the real start; runs preflight, writes nothing.
    `user`: who asks (an unknown environment's refusal names only those they may see)."""
    app, env, artifact = preflight.resolve(application, environment, version, user=user)
    parsed = Strategy.parse(strategy, defaults=app.rollout_defaults)
    checked = preflight.check(application=app, environment=env, artifact=artifact, strategy=parsed, queue=queue)
    hosts = {h.pk: h for h in checked.hosts}
    batches = make_plan(list(hosts), parsed)
    durations = host_durations(list(hosts))
    members: dict[int, list[str]] = {}
    for m in PoolMember.objects.filter(host_id__in=hosts, pool__application=app).select_related("pool"):
        members.setdefault(m.host_id, []).append(f"{m.pool.name}/{m.member} ({m.pool.driver})")
    plan = Plan(app.name, env.name, artifact.label, parsed.as_dict(), needs_approval=env.requires_approval)
    default = sum(DEFAULT_STEP_SECONDS.values())
    for number, batch in enumerate(batches, start=1):
        eta = max(durations.get(pk, default) for pk in batch)
        lb = [f"drain {name}, then enable after health check" for pk in batch for name in members.get(pk, [])]
        plan.batches.append(PlannedBatch(number, [hosts[pk].certname for pk in batch], lb, round(eta, 1)))
    pauses = parsed.pause_seconds * max(0, len(batches) - 1)
    plan.eta_s = round(sum(b.eta_s for b in plan.batches) + pauses, 1)
    if checked.blocking:
        plan.waits_for = f"queued behind #{checked.blocking.pk} ({checked.blocking.status})"
    return plan


def host_durations(host_ids: list[int], *, last: int = 5) -> dict[int, float]:
    """Mean wall time of each host's last few completed host deployments."""
    rows = (
        HostDeployment.objects.filter(host_id__in=host_ids, status="done", started_at__isnull=False)
        .annotate(took=F("finished_at") - F("started_at"))
        .order_by("host_id", "-finished_at")
        .values_list("host_id", "took")
    )
    samples: dict[int, list[float]] = {}
    for host_id, took in rows:
        if took is not None and len(samples.setdefault(host_id, [])) < last:
            samples[host_id].append(took.total_seconds())
    return {pk: sum(v) / len(v) for pk, v in samples.items() if v}
