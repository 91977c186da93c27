import json
import logging

from django.db import connection, transaction

from orbiter.converge.base import ConvergeResult

log = logging.getLogger("orbiter.converge")


def converge_results_record(results: list[ConvergeResult]) -> int:
    """Record converge results against the hosts waiting for them; wake their deployments.

    Idempotent: a result whose request id is not awaited any more (already recorded,
    superseded by a retry, or the deployment moved on) changes nothing. The request id
    names the deployment, host deployment, round and attempt. On PostgreSQL the whole
    batch is written with one UPDATE; elsewhere one per distinct result.
    """
    return len(converge_results_record_awaited(results))


def converge_results_record_awaited(results: list[ConvergeResult]) -> list[ConvergeResult]:
    """`converge_results_record`, returning the results that were awaited (and so written):
    the reply listener stamps a host as seen only on an answer it was waiting for, never on
    a replayed or stale one."""
    from orbiter.deployments import engine

    with transaction.atomic():
        written = _record(results)
        for deployment_id in sorted(_deployments(results)):
            engine.wake(deployment_id)
    return written


def converge_results_settle(results: list[ConvergeResult]) -> int:
    """Record converge results like `converge_results_record`, but hand them to the engine
    round that acts on them, right here, instead of writing them and queueing a task.

    For a worker that holds the results already (the simulated fleet's result task): it
    saves a hand-over through the broker, and the round writes each host once (its result
    together with its next steps). When another engine holds a deployment, or the round
    fails, its results are recorded and it is woken as usual.
    """
    from orbiter.deployments import engine

    recorded = 0
    for deployment_id, group in sorted(_deployments(results).items()):
        answers: dict[int, list[dict]] = {}
        for row in _rows(group):
            answers.setdefault(row["id"], []).append(row)
        handed = len(answers)
        try:
            ran = engine.advance(deployment_id, answers=answers)
        except Exception:  # the round failed and took the results with it: record them on their own
            log.exception("deployment #%s: the round settling %d converge result(s) failed", deployment_id, len(group))
            ran = False
        if ran:
            recorded += handed - len(answers)  # the round removed those it took
            if answers:
                log.info("ignored %d converge result(s) nobody waits for", len(answers))
        else:
            recorded += converge_results_record(group)
    return recorded


def _deployments(results: list[ConvergeResult]) -> dict[int, list[ConvergeResult]]:
    from orbiter.deployments.models import parse_request_id

    by_deployment: dict[int, list[ConvergeResult]] = {}
    for r in results:
        parsed = parse_request_id(r.request_id)
        if parsed is not None:
            by_deployment.setdefault(parsed[0], []).append(r)
    return by_deployment


def _record(results: list[ConvergeResult]) -> list[ConvergeResult]:
    """Write the outcomes (compare-and-set on deployment, round, attempt, step and, for an
    agent's answer, the host's certname); the results that were awaited, so written.

    A host deployment answered twice in one batch: the first answer it waits for counts
    (the rows go in passes of one answer per host deployment; usually a single pass)."""
    pairs = [(row, result) for result in results for row in _rows([result])]
    write = _write_joined if connection.vendor == "postgresql" else _write_grouped
    written: list[ConvergeResult] = []
    while pairs:
        this_pass, later, seen = [], [], set()
        for pair in pairs:
            (later if pair[0]["id"] in seen else this_pass).append(pair)
            seen.add(pair[0]["id"])
        ids = write([row for row, _ in this_pass])
        written += [result for row, result in this_pass if row["id"] in ids]
        pairs = later
    if len(written) < len(results):
        log.info("ignored %d converge result(s) nobody waits for", len(results) - len(written))
    return written


def _rows(results: list[ConvergeResult]) -> list[dict]:
    """The results as the rows `_record` writes: host deployment id, the conditions of the
    compare-and-set (deployment, round, attempt, certname) and the values."""
    from orbiter.deployments.models import parse_request_id

    rows = []
    for r in results:
        parsed = parse_request_id(r.request_id)
        if parsed is None:
            log.warning("ignored a converge result with a foreign request id %r", r.request_id[:100])
            continue
        deployment_id, hd_id, round_, attempt = parsed
        rows.append({
            "id": hd_id, "deployment_id": deployment_id, "round": round_, "attempt": attempt,
            "certname": r.certname,
            "outcome": _text({"ok": r.ok, "permanent": r.permanent, "message": r.message}),
            "puppet": _text(r.summary),
            "log_tail": _text(r.log_tail[-4000:]),
        })
    return rows


def _write_joined(rows: list[dict]) -> set[int]:
    """PostgreSQL: one UPDATE for all the rows, joined to them as one JSON document
    (`jsonb_to_recordset`, like deployments.rows), with the conditions of `_write_grouped`.
    At most one row per host deployment: a target joined to two would take either."""
    from orbiter.catalog.models import Host
    from orbiter.deployments import states
    from orbiter.deployments.models import HostDeployment

    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(HostDeployment._meta.db_table)} AS hd"
        " SET outcome = r.outcome, puppet = r.puppet, log_tail = r.log_tail"
        " FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, deployment_id bigint, round bigint,"
        " attempt bigint, certname text, outcome jsonb, puppet jsonb, log_tail text),"
        f" {quote(Host._meta.db_table)} AS h"
        " WHERE hd.id = r.id AND hd.deployment_id = r.deployment_id AND hd.round = r.round"
        " AND hd.attempt = r.attempt AND hd.status = %s AND hd.outcome IS NULL"
        " AND h.id = hd.host_id AND (r.certname IS NULL OR h.certname = r.certname)"
        " RETURNING hd.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, separators=(",", ":")), states.CONVERGING])
        return {row[0] for row in cursor.fetchall()}


def _write_grouped(rows: list[dict]) -> set[int]:
    """Other databases (SQLite): one UPDATE per deployment, round, attempt, certname and
    payload — for an agent's replies, one per row."""
    from orbiter.deployments import states
    from orbiter.deployments.models import HostDeployment

    groups: dict[tuple, list[int]] = {}
    for row in rows:
        payload = json.dumps({k: row[k] for k in ("outcome", "puppet", "log_tail")}, sort_keys=True)
        key = (row["deployment_id"], row["round"], row["attempt"], row["certname"], payload)
        groups.setdefault(key, []).append(row["id"])
    written: set[int] = set()
    for (deployment_id, round_, attempt, certname, payload), ids in groups.items():
        waiting = HostDeployment.objects.filter(
            pk__in=ids, deployment_id=deployment_id, round=round_, attempt=attempt,
            status=states.CONVERGING, outcome__isnull=True,
        )
        if certname is not None:  # an agent answers only for itself
            waiting = waiting.filter(host__certname=certname)
        found = set(waiting.values_list("pk", flat=True))  # SQLite writes one at a time: no race
        if found and HostDeployment.objects.filter(pk__in=found).update(**json.loads(payload)):
            written |= found
    return written


def _text(value):
    """`value` without NUL characters in its strings: PostgreSQL stores none (neither in
    text nor in jsonb), and one reply carrying one must not fail its whole batch."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value
