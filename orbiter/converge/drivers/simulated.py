"""A simulated fleet: converges "happen" `duration_s` after the request, delivered by a
delayed task, so a waiting host holds no worker thread, exactly like a real agent.

Options: duration_s (default 1.0), slow_hosts ({certname: seconds}: those hosts' converges
take that long instead), transient_rate and permanent_rate (0..1: share of attempts that
fail), fail_hosts (certnames that always fail permanently), seed.
Outcomes are drawn from a generator seeded with (seed, request id): reproducible.
"""

import random

from django.utils import timezone

from orbiter.converge.base import ConvergeDriver, ConvergeRequest, ConvergeResult
from orbiter.converge.models import SimulatedConvergeRun
from orbiter.deployments.rows import rows_insert


class SimulatedConverge(ConvergeDriver):
    name = "simulated"

    def send(self, requests: list[ConvergeRequest]) -> None:
        from orbiter.converge.tasks import simulated_converge

        default, slow = float(self.options.get("duration_s", 1.0)), self.options.get("slow_hosts") or {}
        by_duration: dict[float, list[ConvergeRequest]] = {}
        for r in requests:
            by_duration.setdefault(float(slow.get(r.certname, default)), []).append(r)
        for duration, group in by_duration.items():  # one delayed task per duration
            simulated_converge.apply_async(
                args=[[dict(vars(r)) for r in group], self.options],  # as_dict() without its deep copy
                countdown=duration,
                # Celery would otherwise build a repr of every request for its logs (~0.1 ms each).
                argsrepr=f"[<{len(group)} converge request(s)>, <options>]",
            )


def perform(requests: list[dict], options: dict) -> list[ConvergeResult]:
    """Run the requests not run yet, record them in the ledger, return every stored result."""
    now = timezone.now()
    drawn = {}
    for r in requests:
        ok, permanent, message = _draw(r, options)
        drawn[r["request_id"]] = {"request_id": r["request_id"], "certname": r["certname"],
                                  "application": r["application"], "version": r["version"], "ok": ok,
                                  "permanent": permanent, "message": message, "performed_at": now}
    # The unique request id makes a repeated delivery a no-op; the ledger row is the answer.
    inserted = rows_insert(SimulatedConvergeRun, list(drawn.values()), ignore_conflicts=True, returning="request_id")
    stored = [drawn[request_id] for request_id in inserted] if inserted is not None else []
    earlier = set(drawn) - set(inserted or ())
    if earlier:  # run before (a redelivered task): answer what the ledger says, not this draw
        stored += SimulatedConvergeRun.objects.filter(request_id__in=earlier).values(
            "request_id", "ok", "permanent", "message", "application", "version")
    return [
        ConvergeResult(
            request_id=row["request_id"],
            ok=row["ok"],
            permanent=row["permanent"],
            message=row["message"],
            summary={"changed": 1 if row["ok"] else 0, "failed": 0 if row["ok"] else 1, "simulated": True},
            log_tail=f"simulated Puppet run: {row['application']} {row['version']}: {row['message']}",
        )
        for row in stored
    ]


def _draw(request: dict, options: dict) -> tuple[bool, bool, str]:
    if request["certname"] in options.get("fail_hosts", []):
        return False, True, "simulated permanent failure (host listed in fail_hosts)"
    if not options.get("permanent_rate") and not options.get("transient_rate"):
        return True, False, "converged"  # nothing to draw
    rng = random.Random(f"{options.get('seed', 0)}:{request['request_id']}")
    roll = rng.random()
    permanent_rate = float(options.get("permanent_rate", 0))
    transient_rate = float(options.get("transient_rate", 0))
    if roll < permanent_rate:
        return False, True, "simulated permanent failure"
    if roll < permanent_rate + transient_rate:
        return False, False, "simulated transient failure"
    return True, False, "converged"
