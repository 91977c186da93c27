"""State machines declared once with python-statemachine, flattened to lookup tables.

The deployment engine and the pipelines both keep statuses in plain columns and move them
with compare-and-set; these two functions are what they share.
"""

from statemachine import StateMachine

from orbiter.common.errors import IllegalTransition


def transition_table(machine: type[StateMachine]) -> dict[tuple[str, str], str]:
    """(status, event) → the status the event leads to, for every transition of `machine`."""
    table = {}
    for state in machine.states:
        for transition in state.transitions:
            for event in transition.events:
                table[(state.id, str(event))] = transition.target.id
    return table


def next_status(table: dict[tuple[str, str], str], what: str, status: str, event: str) -> str:
    """The status `event` leads to from `status`, or IllegalTransition naming both and what is
    allowed (`what` names the object in the message: "deployment", "gate run"…)."""
    try:
        return table[(status, event)]
    except KeyError:
        allowed = sorted(e for (s, e) in table if s == status)
        raise IllegalTransition(
            f"cannot {event} a {what} that is {status}; allowed from {status}: "
            f"{', '.join(allowed) or 'nothing (final)'}",
            status=status,
            event=event,
        ) from None
