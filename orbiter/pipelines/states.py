"""Pipeline run, stage run and gate run statuses, their groups, and the legal transitions.

Declared once with python-statemachine and flattened into lookup tables at import, like
`orbiter/deployments/states.py`; `target()` is the only lookup and `transitions.py` the
only code that writes a status.
"""

from statemachine import State, StateMachine

from orbiter.common.machines import next_status, transition_table

# --- pipeline runs (one per artifact) ------------------------------------------------------
QUEUED = "queued"  # policy `queue`: an older artifact is still in the pipeline
RUNNING = "running"  # deploying or gating somewhere
BLOCKED = "blocked"  # the next deployment was refused for a reason that ends (lock, freeze): retried
AWAITING_APPROVAL = "awaiting_approval"  # a stage's promotion waits for a person
PAUSED = "paused"  # a gate timed out or was inconclusive, or a refusal needs a person
SUCCEEDED = "succeeded"  # passed every stage
FAILED = "failed"  # a gate failed or a deployment failed
SUPERSEDED = "superseded"  # policy `supersede`: a newer artifact took its place
CANCELLED = "cancelled"


class RunMachine(StateMachine):
    queued = State(initial=True)
    running = State()
    blocked = State()
    awaiting_approval = State()
    paused = State()
    succeeded = State(final=True)
    failed = State()
    superseded = State(final=True)
    cancelled = State(final=True)

    start = queued.to(running)
    block = running.to(blocked) | blocked.to(blocked)
    unblock = blocked.to(running)
    wait_approval = running.to(awaiting_approval)
    approve = awaiting_approval.to(running)
    pause = running.to(paused) | blocked.to(paused)
    resume = paused.to(running)
    succeed = running.to(succeeded)
    fail = running.to(failed) | paused.to(failed)
    retry = failed.to(running)
    supersede = (
        queued.to(superseded)
        | running.to(superseded)
        | blocked.to(superseded)
        | awaiting_approval.to(superseded)
        | paused.to(superseded)
        | failed.to(superseded)
    )
    cancel = (
        queued.to(cancelled)
        | running.to(cancelled)
        | blocked.to(cancelled)
        | awaiting_approval.to(cancelled)
        | paused.to(cancelled)
        | failed.to(cancelled)
    )


# --- stage runs (one per run and environment) ----------------------------------------------
S_PENDING = "pending"
S_AWAITING_APPROVAL = "awaiting_approval"
S_BLOCKED = "blocked"
DEPLOYING = "deploying"
GATING = "gating"
PASSED = "passed"
S_FAILED = "failed"
S_CANCELLED = "cancelled"


class StageMachine(StateMachine):
    pending = State(initial=True)
    awaiting_approval = State()
    blocked = State()
    deploying = State()
    gating = State()
    passed = State(final=True)
    failed = State()
    cancelled = State(final=True)

    require_approval = pending.to(awaiting_approval)
    approve = awaiting_approval.to(pending)
    block = pending.to(blocked) | blocked.to(blocked)
    deploy = pending.to(deploying) | blocked.to(deploying)
    gate = deploying.to(gating)
    pass_ = deploying.to(passed, event="pass") | gating.to(passed, event="pass")
    fail = deploying.to(failed) | gating.to(failed) | pending.to(failed) | blocked.to(failed)
    retry = failed.to(pending)
    regate = failed.to(gating)
    cancel = (
        pending.to(cancelled)
        | awaiting_approval.to(cancelled)
        | blocked.to(cancelled)
        | deploying.to(cancelled)
        | gating.to(cancelled)
        | failed.to(cancelled)
    )


# --- gate runs (one per stage run and gate) -------------------------------------------------
G_PENDING = "pending"  # queued for a worker (or waiting for its retry backoff)
G_RUNNING = "running"  # a worker holds it until `lease_until`
WAITING = "waiting"  # manual gate: a person decides
G_PASSED = "passed"
G_FAILED = "failed"
G_PAUSED = "paused"  # timed out or inconclusive after its attempts: a person decides
G_CANCELLED = "cancelled"


class GateMachine(StateMachine):
    pending = State(initial=True)
    running = State()
    waiting = State()
    passed = State(final=True)
    failed = State()
    paused = State()
    cancelled = State(final=True)

    claim = pending.to(running)
    requeue = running.to(pending)  # retry after a failed attempt, or the worker died (lease expired)
    await_person = pending.to(waiting)
    pass_ = running.to(passed, event="pass") | waiting.to(passed, event="pass") | paused.to(passed, event="pass")
    fail = running.to(failed) | waiting.to(failed) | paused.to(failed)
    pause = running.to(paused)
    retry = failed.to(pending) | paused.to(pending)
    cancel = pending.to(cancelled) | running.to(cancelled) | waiting.to(cancelled) | paused.to(cancelled)


TABLES = {"run": transition_table(RunMachine), "stage": transition_table(StageMachine),
          "gate": transition_table(GateMachine)}
RUN_STATUSES = [s.id for s in RunMachine.states]
STAGE_STATUSES = [s.id for s in StageMachine.states]
GATE_STATUSES = [s.id for s in GateMachine.states]

# --- groups ---------------------------------------------------------------------------------
# A run in one of these holds the pipeline under the `queue` policy.
RUN_ACTIVE = frozenset({RUNNING, BLOCKED, AWAITING_APPROVAL, PAUSED})
RUN_FINAL = frozenset({SUCCEEDED, SUPERSEDED, CANCELLED})
# The engine has nothing to do for these until a person acts.
RUN_WAITING_FOR_PERSON = frozenset({AWAITING_APPROVAL, PAUSED, FAILED})
GATE_OPEN = frozenset({G_PENDING, G_RUNNING, WAITING})
GATE_DONE = frozenset({G_PASSED, G_FAILED, G_PAUSED, G_CANCELLED})


def target(kind: str, status: str, event: str) -> str:
    """The status `event` leads to from `status` ("run", "stage" or "gate"), or IllegalTransition."""
    return next_status(TABLES[kind], "pipeline run" if kind == "run" else f"{kind} run", status, event)
