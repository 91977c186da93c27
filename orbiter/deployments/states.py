"""Deployment and host statuses, their groups, and the legal transitions.

The transitions are declared once, below, with python-statemachine. At import the two
machines are flattened into lookup tables ({(status, event): new status}) so that the
engine can check hundreds of host transitions per call without building a machine
object for each (≈80 µs apiece); `target()` is the only way any code learns the status
an event leads to, and the transition services in `transitions.py` the only code that
writes a status.
"""

from statemachine import State, StateMachine

from orbiter.common.machines import next_status, transition_table

# --- deployment statuses ---------------------------------------------------------------
PENDING = "pending"
AWAITING_APPROVAL = "awaiting_approval"
QUEUED = "queued"
RUNNING = "running"
PAUSED = "paused"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
REJECTED = "rejected"
ROLLING_BACK = "rolling_back"
ROLLED_BACK = "rolled_back"


class DeploymentMachine(StateMachine):
    pending = State(initial=True)
    awaiting_approval = State()
    queued = State()
    running = State()
    paused = State()
    succeeded = State()
    failed = State()
    cancelled = State()
    rejected = State(final=True)
    rolling_back = State()
    rolled_back = State(final=True)

    require_approval = pending.to(awaiting_approval)
    accept = pending.to(queued)
    refuse = pending.to(rejected)
    approve = awaiting_approval.to(queued)
    reject = awaiting_approval.to(rejected)
    start = queued.to(running)
    pause = running.to(paused)
    resume = paused.to(running)
    succeed = running.to(succeeded)
    fail = running.to(failed) | paused.to(failed) | rolling_back.to(failed)
    cancel = awaiting_approval.to(cancelled) | queued.to(cancelled) | running.to(cancelled) | paused.to(cancelled)
    retry = failed.to(running)
    rollback = (
        running.to(rolling_back)
        | paused.to(rolling_back)
        | failed.to(rolling_back)
        | succeeded.to(rolling_back)
        | cancelled.to(rolling_back)
    )
    finish_rollback = rolling_back.to(rolled_back)


# --- host statuses ----------------------------------------------------------------------
H_PENDING = "pending"
DRAINING = "draining"
CONVERGING = "converging"
VERIFYING = "verifying"
ENABLING = "enabling"
DONE = "done"
H_FAILED = "failed"
SKIPPED = "skipped"


class HostMachine(StateMachine):
    pending = State(initial=True)
    draining = State()
    converging = State()
    verifying = State()
    enabling = State()
    done = State(final=True)
    failed = State()
    skipped = State()

    drain = pending.to(draining)
    converge = draining.to(converging)
    verify = converging.to(verifying)
    enable = verifying.to(enabling)
    finish = enabling.to(done)
    fail = (
        pending.to(failed)
        | draining.to(failed)
        | converging.to(failed)
        | verifying.to(failed)
        | enabling.to(failed)
    )
    skip = pending.to(skipped)
    # Cancelled while draining: nothing changed on the host yet, put it back in service,
    # then it ends skipped (it never got the version), not done.
    abort = draining.to(enabling)
    release = enabling.to(skipped)
    retry = failed.to(pending) | skipped.to(pending)


DEPLOYMENT_TRANSITIONS = transition_table(DeploymentMachine)
HOST_TRANSITIONS = transition_table(HostMachine)
DEPLOYMENT_STATUSES = [s.id for s in DeploymentMachine.states]
HOST_STATUSES = [s.id for s in HostMachine.states]
DEPLOYMENT_EVENTS = sorted({e for _, e in DEPLOYMENT_TRANSITIONS})
HOST_EVENTS = sorted({e for _, e in HOST_TRANSITIONS})

# --- groups -----------------------------------------------------------------------------
# A deployment in one of these holds its application+environment: no other may start.
ACTIVE = frozenset({PENDING, AWAITING_APPROVAL, QUEUED, RUNNING, PAUSED, ROLLING_BACK})
# Active but not started yet (the database allows one of these per target unless queued).
WAITING = frozenset({PENDING, AWAITING_APPROVAL, QUEUED})
# The engine has work to do for these.
ADVANCING = frozenset({QUEUED, RUNNING, PAUSED, CANCELLED, FAILED, SUCCEEDED, ROLLING_BACK})
COMPLETED = frozenset({SUCCEEDED, FAILED, CANCELLED, REJECTED, ROLLED_BACK})
UNSUCCESSFUL = frozenset({FAILED, CANCELLED, REJECTED, ROLLED_BACK})

IN_FLIGHT = frozenset({DRAINING, CONVERGING, VERIFYING, ENABLING})
HOST_TERMINAL = frozenset({DONE, H_FAILED, SKIPPED})


def target(kind: str, status: str, event: str) -> str:
    """The status `event` leads to from `status`, or IllegalTransition naming both."""
    table = DEPLOYMENT_TRANSITIONS if kind == "deployment" else HOST_TRANSITIONS
    return next_status(table, kind, status, event)
