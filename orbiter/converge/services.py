import json
import logging

from django.db import transaction

from orbiter.converge.base import ConvergeResult

log = logging.getLogger("orbiter.converge")


def converge_results_record(results: list[ConvergeResult]) -> int:
    """Record converge results against the hosts waiting for them; wake their deployments.

    Idempotent: a result whose request id is not awaited any more (already recorded,
    superseded by a retry, or the deployment moved on) changes nothing. The request id
    names the host deployment, round and attempt; results with the same payload for the
    same round and attempt are written with one UPDATE.
    """
    from orbiter.deployments import engine

    with transaction.atomic():
        recorded = _record(results)
        for deployment_id in sorted(_deployments(results)):
            engine.wake(deployment_id)
    return recorded


def converge_results_settle(results: list[ConvergeResult]) -> int:
    """Record converge results like `converge_results_record` and run the engine round
    that acts on them right here, in the same transaction, instead of queueing a task.

    For a worker that holds the results already (the simulated fleet's result task): it
    saves a hand-over through the broker and a transaction per batch. When another engine
    holds a deployment, its results are recorded and it is woken as usual.
    """
    from orbiter.deployments import engine

    recorded = 0
    for deployment_id, group in sorted(_deployments(results).items()):
        counted = []
        try:
            ran = engine.advance(deployment_id, first=lambda group=group, counted=counted: counted.append(_record(group)))
        except Exception:  # the round failed and took the results with it: record them on their own
            log.exception("deployment #%s: the round settling %d converge result(s) failed", deployment_id, len(group))
            ran = False
        if not ran:
            counted = [converge_results_record(group)]
        recorded += sum(counted)
    return recorded


def _deployments(results: list[ConvergeResult]) -> dict[int, list[ConvergeResult]]:
    from orbiter.deployments.models import parse_request_id

    by_deployment: dict[int, list[ConvergeResult]] = {}
    for r in results:
        parsed = parse_request_id(r.request_id)
        if parsed is not None:
            by_deployment.setdefault(parsed[0], []).append(r)
    return by_deployment


def _record(results: list[ConvergeResult]) -> int:
    """Write the outcomes (compare-and-set on step, round and attempt); how many were awaited."""
    from orbiter.deployments import states
    from orbiter.deployments.models import HostDeployment, parse_request_id

    groups: dict[tuple, list[int]] = {}
    for r in results:
        parsed = parse_request_id(r.request_id)
        if parsed is None:
            log.warning("ignored a converge result with a foreign request id %r", r.request_id[:100])
            continue
        _, hd_id, round_, attempt = parsed
        payload = {
            "outcome": {"ok": r.ok, "permanent": r.permanent, "message": r.message},
            "puppet": r.summary,
            "log_tail": r.log_tail[-4000:],
        }
        groups.setdefault((round_, attempt, r.certname, json.dumps(payload, sort_keys=True)), []).append(hd_id)
    recorded = 0
    for (round_, attempt, certname, payload), ids in groups.items():
        waiting = HostDeployment.objects.filter(
            pk__in=ids, round=round_, attempt=attempt, status=states.CONVERGING, outcome__isnull=True
        )
        if certname is not None:  # an agent answers only for itself
            waiting = waiting.filter(host__certname=certname)
        recorded += waiting.update(**json.loads(payload))
    if recorded < len(results):
        log.info("ignored %d converge result(s) nobody waits for", len(results) - recorded)
    return recorded
