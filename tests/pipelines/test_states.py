"""An illegal move of a pipeline run, stage run or gate run is refused with a message that
names the object, its status and what is allowed from there."""

import pytest

from orbiter.common.errors import IllegalTransition
from orbiter.pipelines import states


@pytest.mark.parametrize("kind, status, event, message", [
    ("run", "succeeded", "retry",
     "cannot retry a pipeline run that is succeeded; allowed from succeeded: nothing (final)"),
    ("gate", "passed", "retry", "cannot retry a gate run that is passed; allowed from passed: nothing (final)"),
    ("stage", "pending", "gate", "cannot gate a stage run that is pending; allowed from pending:"),
])
def test_an_illegal_move_names_the_object_its_status_and_what_is_allowed(kind, status, event, message):
    with pytest.raises(IllegalTransition) as refused:
        states.target(kind, status, event)
    assert str(refused.value.message).startswith(message)


def test_a_legal_move_gives_the_next_status():
    assert states.target("gate", "failed", "retry") == "pending"
