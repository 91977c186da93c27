"""The engine: a reconciler that brings one deployment as far as it can go right now.

`advance(deployment_id)` keeps nothing in memory between calls. Each round:

1. In one short transaction, lock the deployment row (SKIP LOCKED: if another engine
   holds it, that one will see our wake-up flag and go round again) and read the hosts
   in flight.
2. For each in-flight host, act on the recorded outcome of its current step: move it
   to the next step, retry the step after a backoff, or fail it. A step whose action
   was issued but never answered by its deadline counts as a transient failure (a
   converge request is first re-sent once under the same request id). A load-balancer
   fault that outlasts the attempts pauses the deployment instead (the host is held in
   its step until resumed); a host failing while enabling is drained again first.
3. Apply cancel and the failure budget; at a batch boundary apply the pauses, then
   launch the next batch, as far as the pools' capacity budgets admit its hosts (the
   others stay pending, the message says which pool they wait for); before the
   deployment ends, its failed hosts left out of service are re-enabled if healthy or
   reported; decide the terminal status when nothing is left.
4. Mark the actions to issue (drain, converge, verify, enable) on their hosts, commit.
   Quick driver calls are made during the round and settled in its next pass; the host
   writes of the round are held and made at the end (or before a read of host statuses),
   one compare-and-set UPDATE per group of hosts (`transitions.hosts_batched`).
5. After commit, perform the rest: converge requests are sent and answered later (their
   results may be handed to the next round directly: `advance(answers=...)`); slow load
   balancer and health calls are made and their outcomes recorded (compare-and-set on
   the host's step, attempt and round), then the next round runs.

Every outward action is idempotent or keyed by a request id, so a worker killed at any
point loses nothing: the sweeper calls advance() again and the deadlines fire.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from orbiter.catalog.models import Pin
from orbiter.common.errors import OrbiterError
from orbiter.converge import base as converge_base
from orbiter.deployments import actions, signals, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.deployments.rows import rows_insert
from orbiter.deployments.strategy import Strategy
from orbiter.deployments.transitions import (
    events_batched,
    events_insert,
    hosts_batched,
    hosts_flush,
    hosts_update,
    transition_deployment,
    transition_hosts,
)
from orbiter.loadbalancers import capacity, recovery

log = logging.getLogger("orbiter.engine")
ACTOR = "engine"
DRAIN_POLL_SECONDS = 1.0
CAPACITY_POLL_SECONDS = 1.0  # how soon a batch waiting for pool capacity looks again
MAX_ROUNDS = 100

# The event that moves a host whose current step succeeded to the next step.
_NEXT = {
    states.DRAINING: "converge",
    states.CONVERGING: "verify",
    states.VERIFYING: "enable",
    states.ENABLING: "finish",
}


@dataclass
class Work:
    """Outward actions decided under the lock, performed after commit."""

    later: list[HostDeployment] = field(default_factory=list)  # slow calls, made after commit
    converge: list[converge_base.ConvergeRequest] = field(default_factory=list)
    wake_at: datetime | None = None
    terminal: bool = False
    drivers: actions.Drivers | None = None
    # Capacity budget with slow load balancers: the pools whose states to read before the
    # next round (no network call under the pool locks), and the states read for this one.
    read_pools: list = field(default_factory=list)
    lb_states: dict | None = None
    # Hosts failed while enabling, to take out of service (slow drivers), by id.
    take_out: dict[int, HostDeployment] = field(default_factory=dict)
    # Failed hosts a deployment left out of service: re-enable the healthy ones before it ends.
    recover: list[HostDeployment] = field(default_factory=list)

    @property
    def has_sync(self) -> bool:
        return bool(self.later or self.take_out or self.recover)

    def wake_no_later_than(self, when: datetime | None) -> None:
        if when is not None and (self.wake_at is None or when < self.wake_at):
            self.wake_at = when


def advance(deployment_id: int, *, answers: dict[int, list[dict]] | None = None) -> bool:
    """Bring one deployment as far as it can go now. Safe to call any time, twice, anywhere.

    `answers`, if given, are converge results handed to the first round (per host
    deployment id, rows as `converge.services` makes them): each lands on the host that
    waits for it, on the conditions `converge_results_record` writes with, and is written
    with the host's next steps. The round removes from `answers` those it took. Returns
    False when no round ran (another engine holds the deployment, or it does not exist),
    so no answer was taken either.
    """
    lb_states = None
    for number in range(MAX_ROUNDS):
        result = _reconcile(deployment_id, answers if number == 0 else None, lb_states)
        if result is None:
            return number > 0
        deployment, work = result
        if work.converge:
            _send_converge(deployment, work.converge)
        lb_states = capacity.read_states(work.read_pools) if work.read_pools else None
        if work.has_sync:
            _perform(deployment, work)
        if work.has_sync or lb_states is not None:
            continue
        if work.terminal:
            wake_followers(deployment)
        _schedule_wake(deployment, work.wake_at)
        # A wake-up that arrived while we held the lock found it taken; go round again.
        if not Deployment.objects.filter(pk=deployment_id, wake_pending=True).exists():
            return True
    log.warning("deployment #%s: still busy after %d rounds; the sweeper continues", deployment_id, MAX_ROUNDS)
    return True


def wake(deployment_id: int) -> None:
    """Ask for advance() soon. Coalesced: one queued wake-up per deployment at a time."""
    from orbiter.deployments.tasks import advance_task

    if Deployment.objects.filter(pk=deployment_id, wake_pending=False).update(wake_pending=True):
        transaction.on_commit(lambda: _publish(advance_task, deployment_id))


def _publish(task, deployment_id: int, countdown: float = 0.0) -> None:
    """Queue a task; if the broker is down the change stands and the sweeper picks it up."""
    try:
        task.apply_async(args=[deployment_id], countdown=countdown)
    except Exception:
        log.warning("deployment #%s: could not queue %s; the sweeper will advance it", deployment_id, task.name,
                    exc_info=True)


# --- one round under the lock --------------------------------------------------------------


def _reconcile(deployment_id: int, answers: dict[int, list[dict]] | None = None,
               lb_states: dict | None = None) -> tuple[Deployment, Work] | None:
    now = timezone.now()
    started = time.monotonic()
    with transaction.atomic(), events_batched(), hosts_batched():
        deployment = (
            Deployment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("application", "environment", "artifact")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None:
            return None
        work = Work(lb_states=lb_states)
        if deployment.status == states.QUEUED:
            from orbiter.deployments.services import deployment_start_if_ready

            work.wake_no_later_than(deployment_start_if_ready(deployment, now=now))
        if deployment.status in (states.RUNNING, states.PAUSED):
            _reconcile_hosts(deployment, work, now, answers)
        elif deployment.status == states.ROLLING_BACK:
            _reconcile_rollback_parent(deployment, work)
        Deployment.objects.filter(pk=deployment.pk).update(
            wake_pending=False,
            advanced_at=now,
            wake_at=work.wake_at,
            current_batch=deployment.current_batch,
            batch_finished_at=deployment.batch_finished_at,
            pauses_taken_through=deployment.pauses_taken_through,
            message=deployment.message,
        )
    log.debug("deployment #%s: round in %.1f ms (%s)", deployment_id, (time.monotonic() - started) * 1000,
              deployment.status)
    return deployment, work


def _reconcile_hosts(deployment: Deployment, work: Work, now: datetime,
                     answers: dict[int, list[dict]] | None = None) -> None:
    """Move the hosts as far as they go now. Quick outward calls (drivers whose calls are
    bounded and fast: `quick = True`) are made right here, under the lock, and their
    outcomes settled in the next pass; the others are left to `_perform` after commit."""
    strategy = Strategy(**deployment.strategy)
    quick = work.drivers = actions.Drivers(deployment)
    inflight = list(_hosts(deployment).filter(status__in=states.IN_FLIGHT))
    if answers:
        _take_answers(inflight, answers)
    topped_up = False
    for _ in range(MAX_PASSES):
        _settle_outcomes(deployment, inflight, strategy, work, now)
        if deployment.cancel_requested:
            hosts_flush()
            pending = list(_hosts(deployment).filter(status=states.H_PENDING))
            transition_hosts(pending, "skip", actor=ACTOR, error="deployment cancelled before this host's turn")
            draining = [hd for hd in inflight if hd.status == states.DRAINING]
            transition_hosts(draining, "abort", actor=ACTOR, **_fresh_step(strategy, states.ENABLING, now))
        left = len(inflight)
        inflight = [hd for hd in inflight if hd.status in states.IN_FLIGHT]
        left = left > len(inflight)
        if inflight and not topped_up:  # once a round: it takes the pools' locks and counts
            started = _top_up(deployment, strategy, inflight, left, work, now)
            topped_up = started is not None
            inflight += started or []
        if not inflight:
            launched = _between_batches(deployment, strategy, work, now)
            if launched is None:
                return
            if not launched:  # a batch of unreachable hosts, all skipped or failed: look again
                continue
            inflight = launched
        inline = _issue_actions(deployment, inflight, strategy, work, now, quick)
        if not inline:
            return
        for hd, outcome in actions.calls(deployment, inline, quick):
            hd.outcome = outcome  # settled by the next pass, in this transaction
    else:  # out of passes: outcomes not settled are lost; the steps' deadlines bring the engine back
        for hd in inflight:
            work.wake_no_later_than(hd.step_deadline)


MAX_PASSES = 8


def _take_answers(inflight: list[HostDeployment], answers: dict[int, list[dict]]) -> None:
    """Converge results handed to this round: each host converging in the round and
    attempt an answer names, with no outcome yet (and, for an agent's answer, the same
    certname), takes the first such answer; its write is held with the host's other
    changes. Taken answers are removed from `answers`."""
    for hd in inflight:
        if hd.status != states.CONVERGING or hd.outcome is not None or hd.pk not in answers:
            continue
        for row in answers[hd.pk]:
            if (row["deployment_id"], row["round"], row["attempt"]) == (hd.deployment_id, hd.round, hd.attempt) and (
                    row["certname"] is None or row["certname"] == hd.certname):
                hosts_update([hd], outcome=row["outcome"], puppet=row["puppet"], log_tail=row["log_tail"])
                del answers[hd.pk]
                break


def _hosts(deployment: Deployment):
    """A deployment's hosts as the engine reads them: the host's name and reachability come
    as plain columns (no Host or Artifact objects per row, no facts loaded), and the
    converge output the engine never reads stays in the database."""
    return (
        HostDeployment.objects.filter(deployment=deployment)
        .annotate(certname=F("host__certname"), host_healthy=F("host__healthy"))
        .defer("log_tail", "puppet", "error")
        .order_by("batch", "certname")
    )


def _between_batches(deployment: Deployment, strategy: Strategy, work: Work, now: datetime) -> list | None:
    """No host in flight: finish the deployment, take the pause, or launch the next batch
    (its hosts, or None when there is nothing more to do now)."""
    hosts_flush()
    counts, next_batch = {}, None
    for status, n, first_batch in (
        HostDeployment.objects.filter(deployment=deployment)
        .values_list("status")
        .annotate(n=Count("id"), first=Min("batch"))
        .values_list("status", "n", "first")
        .order_by()
    ):
        counts[status] = n
        if status == states.H_PENDING:
            next_batch = first_batch
    total = sum(counts.values())
    over_budget = counts.get(states.H_FAILED, 0) + counts.get(states.SKIPPED, 0) > strategy.budget(total)
    ending = deployment.cancel_requested or over_budget or (
        not counts.get(states.H_PENDING) and deployment.status == states.RUNNING)
    left_out = ""
    if ending and counts.get(states.H_FAILED):
        left_out = _left_out(deployment, work)
        if left_out is None:  # re-enabling the healthy ones first, after commit
            return None
    if deployment.cancel_requested:
        transition_deployment(deployment, "cancel", actor=ACTOR, message=_summary(counts, "cancelled") + left_out)
        work.terminal = True
        return None
    if over_budget:
        _stop_over_budget(deployment, strategy, counts, work, left_out)
        return None
    if not counts.get(states.H_PENDING):
        if deployment.status == states.RUNNING:
            transition_deployment(deployment, "succeed", actor=ACTOR,
                                  message=_summary(counts, "succeeded") + left_out)
            work.terminal = True
        return None
    if deployment.status != states.RUNNING:
        return None
    return _next_batch(deployment, strategy, counts, next_batch, work, now)


def _settle_outcomes(deployment: Deployment, inflight: list[HostDeployment], strategy: Strategy, work: Work,
                     now: datetime) -> None:
    """Turn each in-flight host's recorded outcome (or its missed deadline) into a transition."""
    moves: dict[str, list[HostDeployment]] = {}
    failures: list[tuple[HostDeployment, str]] = []
    held: list[tuple[HostDeployment, dict]] = []  # load-balancer faults that outlasted the attempts
    taking_out: list[tuple[HostDeployment, str]] = []  # enabling failed: take out of service, then fail
    for hd in inflight:
        outcome = hd.outcome
        if outcome is not None and outcome.get("held"):
            if deployment.status == states.RUNNING or deployment.cancel_requested:
                _restart_step(hd, strategy, now)  # resumed: the step starts over with fresh attempts
            continue
        if outcome is not None and "take_out" in outcome:
            if "note" in outcome:
                failures.append((hd, f"{outcome['take_out']}; {outcome['note']}"))
            else:  # issued, not answered (a slow driver, or a worker that died): make it (again)
                work.take_out[hd.pk] = hd
            continue
        if outcome is None and hd.action_issued_at and hd.step_deadline and now >= hd.step_deadline:
            if hd.status == states.CONVERGING and not hd.resent:
                continue  # re-sent under the same request id by _issue_actions
            outcome = {"ok": False, "permanent": False, "message": f"{hd.status} timed out"}
        if outcome is None:
            continue
        if outcome.get("ok"):
            if hd.status == states.DRAINING and outcome.get("connections", 0) and now < hd.step_deadline:
                _poll_again(hd, now + timedelta(seconds=DRAIN_POLL_SECONDS))
                continue
            if hd.status == states.ENABLING and outcome.get("unhealthy"):
                if now < hd.step_deadline:  # back in the pool; wait until the LB's own check says up
                    _poll_again(hd, now + timedelta(seconds=DRAIN_POLL_SECONDS))
                    continue
                taking_out.append((hd, f"enabling: {', '.join(outcome['unhealthy'])} never reported healthy by the "
                                       "load balancer"))
                continue
            event = _NEXT[hd.status]
            if event == "finish" and not hd.pin_moved:
                event = "release"  # back in service without the new version (cancelled while draining)
            moves.setdefault(event, []).append(hd)
        elif _control_plane_outage(hd, outcome, now):
            _retry_in_a_new_round(hd, strategy, now, outcome.get("message", "failed"))
        elif outcome.get("permanent") or hd.attempt >= strategy.max_attempts:
            tries = f" after {hd.attempt} attempt(s)" if not outcome.get("permanent") else ""
            reason = f"{hd.status}: {outcome.get('message', 'failed')}{tries}"
            if outcome.get("pool") and not outcome.get("permanent") and not deployment.cancel_requested:
                held.append((hd, {**outcome, "message": reason}))
            elif hd.status == states.ENABLING:
                taking_out.append((hd, reason))  # it may be in service now: never leave it there failed
            else:
                failures.append((hd, reason))
        else:
            _retry_step(hd, strategy, now, outcome.get("message", "failed"))

    stats = _step_stats(now)
    converging = moves.pop("converge", [])
    if converging:
        _move_pins(deployment, converging, now)
        transition_hosts(converging, "converge", actor=ACTOR, per_host=stats,
                         **_fresh_step(strategy, states.CONVERGING, now))
    for event, hosts in moves.items():
        new_step = states.target("host", hosts[0].status, event)
        changes = _fresh_step(strategy, new_step, now) if new_step in states.IN_FLIGHT else {}
        transition_hosts(hosts, event, actor=ACTOR, per_host=stats, **changes)
    if held:
        _hold_for_load_balancer(deployment, held)
    if taking_out:
        failures += _take_out(deployment, taking_out, work)
    for hd, error in failures:
        # A host failed while enabling was taken out of service on purpose (it is not healthy
        # where the load balancer looks): it stays out, reported when the deployment ends.
        kept_out = {"outcome": {"recovered": "left_out", "message": error}} if hd.status == states.ENABLING else {}
        transition_hosts([hd], "fail", actor=ACTOR, error=error, data={"error": error}, per_host=stats, **kept_out)
    if failures:
        hosts_flush()
        counts = dict(
            HostDeployment.objects.filter(deployment=deployment).values_list("status").annotate(n=Count("id"))
            .order_by()
        )
        used, total = counts.get(states.H_FAILED, 0) + counts.get(states.SKIPPED, 0), sum(counts.values())
        if used > strategy.budget(total):
            deployment.message = (
                f"failure budget exceeded ({used} of {total} hosts failed, budget {strategy.budget(total)}); "
                "finishing the hosts in flight, starting no more"
            )


def _hold_for_load_balancer(deployment: Deployment, held: list[tuple[HostDeployment, dict]]) -> None:
    """A load balancer kept failing a host's drain or enable past the step's attempts
    (socket gone, timeouts, 5xx): rather than fail host after host for a fault of the load
    balancer, keep the hosts in their step and pause the deployment until someone resumes
    it; resuming starts the step over."""
    for hd, outcome in held:
        hosts_update([hd], outcome={"held": True, "message": outcome["message"]}, action_issued_at=None,
                     error=outcome["message"])
    pools = sorted({outcome["pool"] for _, outcome in held})
    first = held[0][1]["message"]
    message = (f"paused: load balancer pool {', '.join(pools)} keeps failing ({len(held)} host(s) waiting; "
               f"{actions.name(held[0][0])}: {first}); resume to retry")
    if deployment.status == states.RUNNING:
        transition_deployment(deployment, "pause", actor=ACTOR, message=message,
                              data={"pools": pools, "error": first})
    else:
        deployment.message = message


def _take_out(deployment: Deployment, taking_out: list[tuple[HostDeployment, str]],
              work: Work) -> list[tuple[HostDeployment, str]]:
    """Hosts that failed while enabling may be serving: drain them before they are failed.
    Quick drivers: now, and the failures are returned; slow ones: after commit, the host
    keeps `outcome = {"take_out": reason}` until the answer is recorded, so a worker that
    dies in between leaves it to the next round."""
    hosts = [hd for hd, _ in taking_out]
    if work.drivers.lb:
        notes = actions.take_out(deployment, hosts, work.drivers)
        return [(hd, f"{reason}; {notes[hd.pk]}") for hd, reason in taking_out]
    for hd, reason in taking_out:
        hosts_update([hd], outcome={"take_out": reason}, action_issued_at=None)
        work.take_out[hd.pk] = hd
    return []


def _restart_step(hd: HostDeployment, strategy: Strategy, now: datetime) -> None:
    hosts_update([hd], attempt=1, outcome=None, action_issued_at=None, not_before=None, resent=False,
                 step_started_at=now, step_deadline=now + timedelta(seconds=strategy.timeout(hd.status)))


def _step_stats(now: datetime):
    """Event data for a host leaving its step: how many attempts it took and how long."""

    def stats(hd: HostDeployment) -> dict:
        seconds = (now - hd.step_started_at).total_seconds() if hd.step_started_at else None
        return {"step": hd.status, "attempts": hd.attempt, "seconds": seconds}

    return stats


def _fresh_step(strategy: Strategy, step: str, now: datetime) -> dict:
    """Fields of a host entering `step`. Its action is issued in this same round, so the
    transition's UPDATE already stamps `action_issued_at` (see _issue_actions)."""
    return {
        "attempt": 1,
        "outcome": None,
        "action_issued_at": now,
        "not_before": None,
        "resent": False,
        "step_started_at": now,
        "step_deadline": now + timedelta(seconds=strategy.timeout(step)),
    }


def _poll_again(hd: HostDeployment, when: datetime) -> None:
    hosts_update([hd], outcome=None, action_issued_at=None, not_before=when)


def _retry_step(hd: HostDeployment, strategy: Strategy, now: datetime, message: str) -> None:
    backoff = strategy.retry_backoff_s * (2 ** (hd.attempt - 1))
    when = now + timedelta(seconds=backoff)
    changes = {
        "attempt": hd.attempt + 1,
        "outcome": None,
        "action_issued_at": None,
        "resent": False,
        "not_before": when,
        "step_deadline": when + timedelta(seconds=strategy.timeout(hd.status)),
        "error": f"attempt {hd.attempt}: {message}",
    }
    hosts_update([hd], **changes)
    log.info("deployment #%s host %s: %s; retrying %s in %.1fs", hd.deployment_id, actions.name(hd), message, hd.status,
             backoff)


# A converge whose Puppet run could not reach Orbiter's own ENC (the web service down or
# restarting) failed for the control plane, not for the host (orbiter_agent.puppet).
CONTROL_PLANE_OUTAGE_KINDS = frozenset({"enc_unreachable"})


def _control_plane_outage(hd: HostDeployment, outcome: dict, now: datetime) -> bool:
    """A failed converge caused by an outage of the control plane itself, within
    ORBITER_ENC_OUTAGE_SECONDS of the step's start (after that it counts like any failure,
    so an outage that never ends still fails the hosts, bounded by their attempts)."""
    from django.conf import settings

    if hd.status != states.CONVERGING or outcome.get("permanent") or hd.step_started_at is None:
        return False
    if (now - hd.step_started_at).total_seconds() >= settings.ORBITER_ENC_OUTAGE_SECONDS:
        return False
    summary = hd.puppet  # deferred: read from the database on failures only
    return isinstance(summary, dict) and summary.get("kind") in CONTROL_PLANE_OUTAGE_KINDS


def _retry_in_a_new_round(hd: HostDeployment, strategy: Strategy, now: datetime, message: str) -> None:
    """Retry the converge without using up an attempt. The request needs a new id (the
    agent answers a repeated id from its stored reply instead of running Puppet), so the
    round moves on and the attempt stays."""
    backoff = strategy.retry_backoff_s
    when = now + timedelta(seconds=backoff)
    hosts_update([hd], round=hd.round + 1, outcome=None, action_issued_at=None, resent=False, not_before=when,
                 step_deadline=when + timedelta(seconds=strategy.timeout(hd.status)),
                 error=f"attempt {hd.attempt}: {message}; retried without using up the attempt")
    log.warning("deployment #%s host %s: %s; retrying in %.1fs without using up attempt %d", hd.deployment_id,
                actions.name(hd), message, backoff, hd.attempt)


def _move_pins(deployment: Deployment, hosts: list[HostDeployment], now: datetime) -> None:
    """Point each host's pin at its target, remembering the previous artifact for rollbacks.

    Done in the transaction that moves the host to `converging`, immediately before its
    converge request is sent: a Puppet run on a host whose turn has not come keeps the old version.
    """
    if connection.vendor == "postgresql":
        current = _pins_upsert(deployment, hosts, now)
    else:
        current = dict(
            Pin.objects.filter(application=deployment.application, host_id__in=[hd.host_id for hd in hosts])
            .values_list("host_id", "artifact_id")
        )
        rows_insert(Pin, [
            {"host_id": hd.host_id, "application_id": deployment.application_id,
             "artifact_id": hd.target_artifact_id, "deployment_id": deployment.pk, "updated_at": now}
            for hd in hosts
            if hd.host_id not in current
        ])
        by_target: dict[int, list[int]] = {}
        for hd in hosts:
            if hd.host_id in current:
                by_target.setdefault(hd.target_artifact_id, []).append(hd.host_id)
        for artifact_id, ids in by_target.items():
            Pin.objects.filter(application=deployment.application, host_id__in=ids).update(
                artifact_id=artifact_id, deployment=deployment, updated_at=now
            )
    by_previous: dict[int | None, list[HostDeployment]] = {}
    for hd in hosts:
        if not hd.pin_moved:  # a retried host keeps the version it had before this deployment
            by_previous.setdefault(current.get(hd.host_id), []).append(hd)
    for previous, group in by_previous.items():
        hosts_update(group, previous_artifact_id=previous, pin_moved=True)


def _pins_upsert(deployment: Deployment, hosts: list[HostDeployment], now: datetime) -> dict[int, int]:
    """PostgreSQL: move the hosts' pins with one statement (insert the missing, update the
    others) and return the artifact each host was pinned to before (host id -> artifact id).
    The `previous` CTE reads the statement's starting snapshot, so it sees the old pins."""
    quote = connection.ops.quote_name
    table = quote(Pin._meta.db_table)
    sql = (
        f"WITH previous AS (SELECT host_id, artifact_id FROM {table}"
        "   WHERE application_id = %s AND host_id IN (SELECT (r ->> 'h')::bigint FROM jsonb_array_elements(%s::jsonb) r)"
        "   FOR UPDATE),"
        f" moved AS (INSERT INTO {table} (host_id, application_id, artifact_id, deployment_id, updated_at)"
        "   SELECT (r ->> 'h')::bigint, %s, (r ->> 'a')::bigint, %s, %s FROM jsonb_array_elements(%s::jsonb) r"
        "   ON CONFLICT (host_id, application_id) DO UPDATE SET artifact_id = excluded.artifact_id,"
        "   deployment_id = excluded.deployment_id, updated_at = excluded.updated_at)"
        " SELECT host_id, artifact_id FROM previous"
    )
    targets = json.dumps([{"h": hd.host_id, "a": hd.target_artifact_id} for hd in hosts], separators=(",", ":"))
    with connection.cursor() as cursor:
        cursor.execute(sql, [deployment.application_id, targets, deployment.application_id, deployment.pk, now, targets])
        return dict(cursor.fetchall())


def _next_batch(deployment: Deployment, strategy: Strategy, counts: dict, next_batch: int, work: Work,
                now: datetime) -> list | None:
    """At a batch boundary: take the configured pause, or launch the next batch."""
    finished = deployment.current_batch
    moving_on = next_batch > finished >= 0
    if moving_on:
        if deployment.batch_finished_at is None:  # now, after this round's last transitions: the pause
            deployment.batch_finished_at = timezone.now()  # is counted from the batch's last `done` Event
        if deployment.pauses_taken_through < finished:
            canary_pause = strategy.canary and strategy.canary_pause and finished == 0
            if canary_pause or strategy.pause_until_resumed:
                deployment.pauses_taken_through = finished
                what = "canary host done" if canary_pause else f"batch {finished + 1} done"
                transition_deployment(
                    deployment,
                    "pause",
                    actor=ACTOR,
                    message=f"{what}; resume to start batch {next_batch + 1} of {len(deployment.plan)}",
                    pauses_taken_through=finished,
                )
                return None
            resume_at = deployment.batch_finished_at + timedelta(seconds=strategy.pause_seconds)
            if timezone.now() < resume_at:
                deployment.message = f"batch {next_batch + 1} of {len(deployment.plan)} starts at {resume_at:%H:%M:%S} UTC"
                work.wake_no_later_than(resume_at)
                return None

    hosts = list(_hosts(deployment).filter(status=states.H_PENDING, batch=next_batch))
    return _launch(deployment, strategy, counts, next_batch, hosts, work, now)


def _launch(deployment: Deployment, strategy: Strategy, counts: dict, batch: int, hosts: list, work: Work,
            now: datetime, in_flight: int = 0) -> list | None:
    """Start the pending `hosts` of `batch` (unreachable ones are skipped or failed, and
    a capacity budget may hold some back); `in_flight`: the batch's hosts already going."""
    budget = strategy.budget(sum(counts.values()))
    used = counts.get(states.H_FAILED, 0) + counts.get(states.SKIPPED, 0)
    unreachable = [hd for hd in hosts if not hd.host_healthy]
    for hd in unreachable:
        used += 1
        event = "skip" if used <= budget else "fail"
        transition_hosts([hd], event, actor=ACTOR, error="host unreachable when its turn came")
    if used > budget:
        deployment.message = "failure budget exceeded by unreachable hosts; starting no more"
        return []  # the next pass finds nothing in flight, over budget: the deployment fails
    launch = [hd for hd in hosts if hd.host_healthy]
    waiting: list[str] = []
    if launch and work.drivers.budgeted:
        admitted = _admit(deployment, launch, work)
        if admitted is None:  # the load balancers' states are read first, outside the locks
            return None
        launch, waiting = admitted
    batch_name = f"batch {batch + 1} of {len(deployment.plan)}"
    if waiting:  # the others stay pending: they start when there is room, looked for every
        work.wake_no_later_than(now + timedelta(seconds=CAPACITY_POLL_SECONDS))  # poll (_top_up)
        if not launch and not in_flight:
            deployment.message = f"{batch_name} {'; '.join(waiting)}"
            return None
    transition_hosts(launch, "drain", actor=ACTOR, started_at=now, **_fresh_step(strategy, states.DRAINING, now))
    deployment.current_batch = batch
    deployment.batch_finished_at = None
    deployment.message = f"{batch_name}: {in_flight + len(launch)} host(s)"
    if waiting:
        deployment.message += f", {len(hosts) - len(unreachable) - len(launch)} {'; '.join(waiting)}"
    return launch


def _top_up(deployment: Deployment, strategy: Strategy, inflight: list, left: bool, work: Work,
            now: datetime) -> list | None:
    """A batch a capacity budget let out only in part: start more of its hosts as soon as
    the budget has room, while the others are still in flight (a rolling window within
    the batch) instead of after all of them finished. Asked only when there may be room
    now: a host left flight in this round (`left`), the load balancers' states were just
    read for this round, or a capacity poll is due (a round woken before the poll keeps
    it). Returns the hosts started, or None when it did not look."""
    if not work.drivers.budgeted or deployment.status != states.RUNNING or deployment.cancel_requested:
        return None
    due = deployment.wake_at is not None and now >= deployment.wake_at
    if not (left or due or work.lb_states is not None):
        work.wake_no_later_than(deployment.wake_at)  # woken early: keep the poll that is due later
        return None
    hosts_flush()
    batch = deployment.current_batch
    hosts = list(_hosts(deployment).filter(status=states.H_PENDING, batch=batch))
    if not hosts:
        return []
    counts = dict(HostDeployment.objects.filter(deployment=deployment).values_list("status")
                  .annotate(n=Count("id")).order_by())
    if counts.get(states.H_FAILED, 0) + counts.get(states.SKIPPED, 0) > strategy.budget(sum(counts.values())):
        return []  # over the failure budget: the hosts in flight finish, no more start
    in_batch = sum(1 for hd in inflight if hd.batch == batch)
    return _launch(deployment, strategy, counts, batch, hosts, work, now, in_flight=in_batch) or []


def _admit(deployment: Deployment, hosts: list, work: Work) -> tuple[list, list[str]] | None:
    """The hosts of `hosts` the pools' capacity budgets let go out of service now, in order,
    and why the others wait. Locks the pools' rows until this round commits (the admitted
    hosts go to draining in it). Slow load balancers are read before the round, outside the
    locks: without their states yet, ask for them (`work.read_pools`) and return None."""
    lb_states = work.lb_states
    if lb_states is None and not work.drivers.lb:
        work.read_pools = list(work.drivers.budgeted)
        return None
    hosts_flush()  # admit counts the hosts in flight from the database
    admitted, waiting = capacity.admit_hosts(deployment.application, [hd.host_id for hd in hosts],
                                             lb_states=lb_states)
    chosen = set(admitted)
    return [hd for hd in hosts if hd.host_id in chosen], waiting


def _left_out(deployment: Deployment, work: Work) -> str | None:
    """Before a deployment ends: its failed hosts that went out of service (launched) must be
    re-enabled if healthy or reported. None while some are not yet through that (they are put
    in `work.recover`); then the text naming those left out of service, for the message."""
    failed = list(
        HostDeployment.objects.filter(deployment=deployment, status=states.H_FAILED, started_at__isnull=False)
        .annotate(certname=F("host__certname")).only("pk", "host_id", "status", "round", "outcome")
        .order_by("host__certname")
    )
    todo = [hd for hd in failed if not (hd.outcome and "recovered" in hd.outcome)]
    if todo:
        work.recover = todo
        return None
    back = [hd.certname for hd in failed if hd.outcome["recovered"] == "enabled"]
    out = [f"{hd.certname} ({hd.outcome.get('message', '')})" for hd in failed
           if hd.outcome["recovered"] != "enabled"]
    return "".join([
        f"; failed but healthy, back in service: {', '.join(back)}" if back else "",
        f"; left out of service: {'; '.join(out)}" if out else "",
    ])


def _stop_over_budget(deployment: Deployment, strategy: Strategy, counts: dict, work: Work,
                      left_out: str = "") -> None:
    message = _summary(counts, "failed: failure budget exceeded") + left_out
    work.terminal = True
    if strategy.auto_rollback and deployment.status in (states.RUNNING, states.PAUSED):
        from orbiter.deployments.services import deployment_rollback

        try:
            with transaction.atomic():
                deployment_rollback(deployment=deployment, actor=ACTOR, reason=message)
            return
        except OrbiterError as error:
            message = f"{message}; automatic rollback impossible: {error.message}"
    transition_deployment(deployment, "fail", actor=ACTOR, message=message)


def _reconcile_rollback_parent(deployment: Deployment, work: Work) -> None:
    child = deployment.rollbacks.order_by("-id").first()
    if child is None or child.status in states.ACTIVE:
        return
    if child.status == states.SUCCEEDED:
        transition_deployment(deployment, "finish_rollback", actor=ACTOR, message=f"rolled back by #{child.pk}")
    else:
        transition_deployment(deployment, "fail", actor=ACTOR, message=f"rollback #{child.pk} {child.status}")
    work.terminal = True


def _summary(counts: dict, verdict: str) -> str:
    parts = [f"{counts[s]} {s}" for s in (states.DONE, states.H_FAILED, states.SKIPPED, states.H_PENDING) if counts.get(s)]
    return f"{verdict} ({', '.join(parts) or 'no hosts'})"


# --- deciding and performing actions -------------------------------------------------------


def _issue_actions(deployment: Deployment, inflight: list[HostDeployment], strategy: Strategy, work: Work,
                   now: datetime, quick: actions.Drivers) -> list[HostDeployment]:
    """Mark which hosts need their step's action now and remember when to look again.
    Returns the hosts whose action is quick enough to make right away, under the lock."""
    issued: list[HostDeployment] = []
    inline: list[HostDeployment] = []
    for hd in inflight:
        if hd.outcome is not None:
            continue
        entered_now = hd.action_issued_at == now  # stamped by this round's transition
        if hd.action_issued_at is not None and not entered_now:
            overdue = hd.step_deadline and now >= hd.step_deadline
            if hd.status == states.CONVERGING and overdue and not hd.resent:
                # The request or its reply may have been lost: send the same id once more.
                hosts_update([hd], resent=True, step_deadline=now + timedelta(seconds=strategy.converge_timeout_s))
                work.converge.append(_converge_request(deployment, hd, strategy, quick))
            work.wake_no_later_than(hd.step_deadline)
            continue
        if hd.not_before and now < hd.not_before:
            work.wake_no_later_than(hd.not_before)
            continue
        if not entered_now:
            issued.append(hd)
        if hd.status == states.CONVERGING:
            work.converge.append(_converge_request(deployment, hd, strategy, quick))
        elif quick.step(hd.status):
            inline.append(hd)  # settled in the next pass, which looks at its deadline if it must wait
            continue
        else:
            work.later.append(hd)
        work.wake_no_later_than(hd.step_deadline)
    hosts_update(issued, action_issued_at=now)
    return inline


def _converge_request(deployment: Deployment, hd: HostDeployment, strategy: Strategy,
                      drivers: actions.Drivers) -> converge_base.ConvergeRequest:
    return converge_base.ConvergeRequest(
        request_id=hd.request_id,
        certname=hd.certname,
        application=deployment.application.name,
        package=deployment.application.package,
        version=drivers.label(hd),
        timeout_s=strategy.converge_timeout_s,
    )


def _send_converge(deployment: Deployment, requests: list[converge_base.ConvergeRequest]) -> None:
    try:
        converge_base.driver_for(deployment.application).send(requests)
    except Exception:  # the deadline and the re-send recover; never lose the round for it
        log.exception("deployment #%s: sending %d converge request(s) failed", deployment.pk, len(requests))


def _perform(deployment: Deployment, work: Work) -> None:
    """After commit: make the slow outward calls and record each outcome against its step."""
    if work.later:
        actions.record(actions.calls(deployment, work.later, work.drivers))
    if work.take_out:
        hosts = list(work.take_out.values())
        notes = actions.take_out(deployment, hosts, work.drivers)
        actions.record_taken_out([(hd, notes[hd.pk]) for hd in hosts])
    if work.recover:
        _recover(deployment, work.recover)


def _recover(deployment: Deployment, hosts: list[HostDeployment]) -> None:
    """Failed hosts this deployment left out of service: put back the healthy ones
    (`recovery.reenable_if_healthy`), report the others, and mark each host recovered
    (`outcome = {"recovered": …}`) so the round that ends the deployment names them."""
    from orbiter.catalog.models import Host

    by_name = {hd.certname: hd for hd in hosts}
    try:
        result = recovery.reenable_if_healthy(
            application=deployment.application, hosts=list(Host.objects.filter(pk__in=[hd.host_id for hd in hosts])))
        verdicts = {name: ("enabled", "back in service (health check passed)") for name in result.enabled}
        verdicts.update({name: ("left_out", reason) for name, reason in result.left_out.items()})
    except Exception as error:  # never lose the end of the deployment for it: report every host
        log.exception("deployment #%s: re-enabling failed hosts failed", deployment.pk)
        verdicts = {name: ("left_out", f"{type(error).__name__}: {error}") for name in by_name}
    now = timezone.now()
    events = []
    with transaction.atomic():
        for name, hd in by_name.items():
            verdict, reason = verdicts.get(name, ("left_out", "not checked"))
            updated = HostDeployment.objects.filter(pk=hd.pk, status=states.H_FAILED, round=hd.round).filter(
                Q(outcome__isnull=True) | ~Q(outcome__has_key="recovered")).update(
                outcome={"recovered": verdict, "message": reason})
            if updated:
                events.append({
                    "created_at": now, "actor": ACTOR, "verb": f"host.{'reenabled' if verdict == 'enabled' else 'left_out'}",
                    "object_type": "hostdeployment", "object_id": str(hd.pk), "before": hd.status, "after": hd.status,
                    "deployment_id": deployment.pk, "data": {"host": name, "reason": reason},
                })
        events_insert(events)


# --- after the round -------------------------------------------------------------------------


def wake_followers(deployment: Deployment) -> None:
    """A deployment finished: let the next one queued for this application and environment,
    and a parent waiting for this rollback, move on; tell the subscribers of
    `signals.deployment_finished` once the change has committed."""
    transaction.on_commit(lambda: signals.send(signals.deployment_finished, deployment=deployment))
    follower = (
        Deployment.objects.filter(
            application_id=deployment.application_id,
            environment_id=deployment.environment_id,
            status=states.QUEUED,
        )
        .order_by("id")
        .values_list("pk", flat=True)
        .first()
    )
    if follower:
        wake(follower)
    if deployment.rollback_of_id:
        wake(deployment.rollback_of_id)


def _schedule_wake(deployment: Deployment, when: datetime | None) -> None:
    from orbiter.deployments.tasks import advance_task

    if when is None:
        return
    delay = (when - timezone.now()).total_seconds()
    if delay < 60:  # beyond that the sweeper is precise enough
        _publish(advance_task, deployment.pk, countdown=max(0.0, delay) + 0.01)
