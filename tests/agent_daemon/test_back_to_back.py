"""Requests queued for one agent are answered back to back, not one per TCP delayed ACK.

The agent takes one request at a time (prefetch 1): the broker sends the next only after
the agent's ACK. With Nagle's algorithm on the agent's socket, that ACK (a small frame
right after the reply) waited for the broker's delayed TCP acknowledgement, ~40 ms on
Linux, so every queued request cost at least 40 ms however fast the agent was.
"""

import time

import pytest

pytestmark = pytest.mark.integration

QUEUED = 30
NAGLE_DELAY_S = 0.04  # Linux's minimum delayed-ACK timeout: what each request paid before


def test_queued_pings_are_answered_without_a_delayed_ack_each(host, control_plane):
    control_plane.replies_to(host, _ping(host, control_plane))  # connected and warm
    requests = [control_plane.request("ping", target=host) for _ in range(QUEUED)]

    started = time.monotonic()
    for request in requests:
        control_plane.send(host, control_plane.signed(host, request))
    for request in requests:
        control_plane.replies_to(host, request)
    elapsed = time.monotonic() - started

    # Back to back they take a few ms each; one delayed ACK each would be >= 1.2 s.
    assert elapsed < QUEUED * NAGLE_DELAY_S / 2, f"{QUEUED} queued pings took {elapsed:.2f}s"


def _ping(host, control_plane):
    request = control_plane.request("ping", target=host)
    control_plane.send(host, control_plane.signed(host, request))
    return request
