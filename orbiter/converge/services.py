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
    from orbiter.deployments import engine, states
    from orbiter.deployments.models import HostDeployment, parse_request_id

    groups: dict[tuple, list[int]] = {}
    deployments = set()
    for r in results:
        parsed = parse_request_id(r.request_id)
        if parsed is None:
            log.warning("ignored a converge result with a foreign request id %r", r.request_id[:100])
            continue
        deployment_id, hd_id, round_, attempt = parsed
        payload = {
            "outcome": {"ok": r.ok, "permanent": r.permanent, "message": r.message},
            "puppet": r.summary,
            "log_tail": r.log_tail[-4000:],
        }
        groups.setdefault((round_, attempt, r.certname, json.dumps(payload, sort_keys=True)), []).append(hd_id)
        deployments.add(deployment_id)
    recorded = 0
    with transaction.atomic():
        for (round_, attempt, certname, payload), ids in groups.items():
            waiting = HostDeployment.objects.filter(
                pk__in=ids, round=round_, attempt=attempt, status=states.CONVERGING, outcome__isnull=True
            )
            if certname is not None:  # an agent answers only for itself
                waiting = waiting.filter(host__certname=certname)
            recorded += waiting.update(**json.loads(payload))
        if recorded < len(results):
            log.info("ignored %d converge result(s) nobody waits for", len(results) - recorded)
        for deployment_id in sorted(deployments):
            engine.wake(deployment_id)
    return recorded
