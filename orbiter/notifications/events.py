"""What a channel can subscribe to, and which deployment transition announces each.

Notification events are named for what a user wants to hear ("succeeded"), not for the
state machine's verbs ("succeed"); the table below is the only mapping between them.
"""

from orbiter.deployments import states

STARTED = "started"
SUCCEEDED = "succeeded"
FAILED = "failed"
NEEDS_APPROVAL = "needs_approval"
CANCELLED = "cancelled"
ROLLED_BACK = "rolled_back"
TEST = "test"  # sent only by `orbiter notifications test`

# deployment transition event -> notification event
BY_TRANSITION = {
    "start": STARTED,
    "succeed": SUCCEEDED,
    "fail": FAILED,
    "require_approval": NEEDS_APPROVAL,
    "cancel": CANCELLED,
    "finish_rollback": ROLLED_BACK,
}
EVENTS = [STARTED, SUCCEEDED, FAILED, NEEDS_APPROVAL, CANCELLED, ROLLED_BACK]
# A channel created without a list of events hears these: what issue 5 asks for.
DEFAULT_EVENTS = [STARTED, SUCCEEDED, FAILED, NEEDS_APPROVAL]

assert set(BY_TRANSITION) <= set(states.DEPLOYMENT_EVENTS), "a notified transition is not in the state machine"
