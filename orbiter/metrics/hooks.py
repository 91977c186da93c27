"""Seams other apps fill in, so metrics imports none of them.

`gates_passed`: the pipelines app registers, from its AppConfig.ready(), a function
`provider(artifact) -> {environment id: datetime}` telling when all the gates of each stage
passed for that artifact. Without a provider every stage reports `gates_passed_at: None`.
"""

from collections.abc import Callable
from datetime import datetime

GatesPassed = Callable[[object], dict[int, datetime]]

_gates_passed: GatesPassed | None = None


def set_gates_passed(provider: GatesPassed | None) -> None:
    global _gates_passed
    _gates_passed = provider


def gates_passed(artifact) -> dict[int, datetime]:
    return _gates_passed(artifact) if _gates_passed is not None else {}
