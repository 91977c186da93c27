import json
import logging

from django.db import transaction

from orbiter.converge.base import ConvergeResult

log = logging.getLogger("orbiter.converge")


def converge_results_record(results: list[ConvergeResult]) -> int:
    """Record converge results against the hosts waiting for them; wake their deployments.

    Idempotent: a result whose request id is not awaited any more (already recorded,
    superseded by a retry, or the deployment moved on) changes nothing. Identical
    payloads are written with one UPDATE, so a batch of 100 results costs a few queries.
    """
    from orbiter.deployments import engine, states
    from orbiter.deployments.models import HostDeployment

    groups: dict[str, list[str]] = {}
    payloads: dict[str, dict] = {}
    for r in results:
        payload = {
            "outcome": {"ok": r.ok, "permanent": r.permanent, "message": r.message},
            "puppet": r.summary,
            "log_tail": r.log_tail[-4000:],
        }
        key = json.dumps(payload, sort_keys=True)
        payloads[key] = payload
        groups.setdefault(key, []).append(r.request_id)
    recorded = 0
    with transaction.atomic():
        for key, ids in groups.items():
            recorded += HostDeployment.objects.filter(
                request_id__in=ids, status=states.CONVERGING, outcome__isnull=True
            ).update(**payloads[key])
    if recorded < len(results):
        log.info("ignored %d converge result(s) nobody waits for", len(results) - recorded)
    deployment_ids = set(
        HostDeployment.objects.filter(request_id__in=[r.request_id for r in results]).values_list(
            "deployment_id", flat=True
        )
    )
    for deployment_id in deployment_ids:
        engine.wake(deployment_id)
    return recorded
