"""Running the operations commands as a script would: arguments as strings, stdout, stderr
and the exit code captured."""

import time
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import call_command

from orbiter.core.management import ops


@dataclass
class Result:
    code: int
    out: str
    err: str


def orbiter(*argv: str) -> Result:
    """`orbiter <argv>` in this process; the exit code is 0 unless the command exited."""
    out, err = StringIO(), StringIO()
    try:
        call_command(*argv, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def engine_runs_while_waiting(tasks, monkeypatch):
    """While `--wait` sleeps between looks, the in-memory task queue runs the engine."""

    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        tasks.run_until(lambda: time.monotonic() >= end, timeout=seconds + 5)

    monkeypatch.setattr(ops, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(ops, "sleep", sleep)
    return tasks


@pytest.fixture(autouse=True)
def requester(monkeypatch):
    """Who the commands act as unless --as says otherwise."""
    monkeypatch.setenv("ORBITER_USER", "alice")
    return "alice"
