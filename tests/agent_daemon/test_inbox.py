"""What stomp.py's thread hands the agent's loop stays bounded: oversized frames are let go
at once, broadcasts beyond a few are dropped, the host's own requests never are, and the
lines all this writes to the log are limited per minute."""

from __future__ import annotations

import json
import queue
from types import SimpleNamespace

import pytest

from orbiter_agent.protocol import MAX_BYTES
from orbiter_agent.transport import (
    BROADCAST_SUB,
    MAX_PENDING_BROADCASTS,
    REQUESTS,
    Inbox,
    Listener,
    ThrottledLog,
)


def frame(subscription: str, body: bytes, ack: str = "ack-1") -> SimpleNamespace:
    return SimpleNamespace(headers={"subscription": subscription, "ack": ack}, body=body)


def drain(inbox: Inbox) -> list:
    items = []
    while True:
        try:
            items.append(inbox.get(timeout=0))
        except queue.Empty:
            return items


def lines(capsys, name: str) -> list[dict]:
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    return [e for e in events if e["event"] == name]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def test_broadcasts_beyond_the_limit_are_dropped_while_the_loop_is_busy(inbox, capsys):
    listener = Listener(inbox, 1)

    for i in range(MAX_PENDING_BROADCASTS + 5):
        listener.on_message(frame(BROADCAST_SUB, b'{"n": %d}' % i))

    taken = drain(inbox)
    assert [json.loads(item.body)["n"] for item in taken] == list(range(MAX_PENDING_BROADCASTS))
    dropped = lines(capsys, "dropped")
    assert len(dropped) == 5 and {d["reason"] for d in dropped} == {"inbox_full"}


def test_room_for_broadcasts_comes_back_as_the_loop_takes_them(inbox):
    listener = Listener(inbox, 1)
    for _ in range(MAX_PENDING_BROADCASTS):
        listener.on_message(frame(BROADCAST_SUB, b"{}"))

    drain(inbox)
    listener.on_message(frame(BROADCAST_SUB, b'{"late": true}'))

    assert [item.body for item in drain(inbox)] == [b'{"late": true}']


def test_the_hosts_own_requests_are_taken_even_when_broadcasts_fill_the_inbox(inbox):
    listener = Listener(inbox, 1)
    for _ in range(MAX_PENDING_BROADCASTS + 3):
        listener.on_message(frame(BROADCAST_SUB, b"{}"))

    listener.on_message(frame(REQUESTS, b'{"mine": true}', ack="ack-7"))

    mine = [item for item in drain(inbox) if item.subscription == REQUESTS]
    assert [(item.ack_id, item.body) for item in mine] == [("ack-7", b'{"mine": true}')]


def test_an_oversized_broadcast_is_dropped_before_it_reaches_the_inbox(inbox, capsys):
    Listener(inbox, 1).on_message(frame(BROADCAST_SUB, b"x" * (MAX_BYTES + 1)))

    assert drain(inbox) == []
    [dropped] = lines(capsys, "dropped")
    assert (dropped["reason"], dropped["bytes"]) == ("too_large", MAX_BYTES + 1)


def test_an_oversized_request_on_the_hosts_queue_keeps_only_enough_to_be_refused(inbox):
    """Dropped, it would stay unacknowledged and come back after every reconnection; cut
    short, the loop refuses it as too large and ACKs it."""
    Listener(inbox, 1).on_message(frame(REQUESTS, b"x" * 5_000_000, ack="ack-9"))

    [item] = drain(inbox)
    assert (item.ack_id, len(item.body)) == ("ack-9", MAX_BYTES + 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_refusals_are_logged_a_few_per_interval_then_counted_in_one_line(capsys):
    clock = Clock()
    throttled = ThrottledLog(burst=3, interval_s=60, clock=clock)

    for i in range(1000):
        throttled("refused", code="not_json", n=i)
    throttled("dropped", reason="too_large")
    assert [e["n"] for e in lines(capsys, "refused")] == [0, 1, 2]

    clock.now += 61
    throttled.flush()
    [summary] = lines(capsys, "log_suppressed")
    assert summary["counts"] == {"dropped": 1, "refused": 997}

    throttled("refused", code="not_json", n=1000)  # a new interval: written again
    assert [e["n"] for e in lines(capsys, "refused")] == [1000]


def test_a_quiet_interval_writes_no_summary(capsys):
    clock = Clock()
    throttled = ThrottledLog(burst=3, interval_s=60, clock=clock)
    throttled("refused", code="not_json")

    clock.now += 61
    throttled.flush()

    assert lines(capsys, "log_suppressed") == []
