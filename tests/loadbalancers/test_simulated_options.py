"""The simulated load balancer's own behaviour, beyond the contract: its options
(`connections`, `drain_seconds`, `unhealthy_members`), what a repeated call keeps, and that a
batch call is one statement whatever its size (it sits on the engine's hot path)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orbiter.loadbalancers.base import DRAIN, UP, MemberState, registry
from orbiter.loadbalancers.models import SimulatedMemberState

pytestmark = pytest.mark.django_db

MEMBERS = [f"shop-api-cert-{n:02d}" for n in range(1, 4)]


def simulated(pool: str = "shop-api-cert", **options):
    return registry.get("simulated")(pool, options)


def drained_long_ago(member: str, seconds: float) -> None:
    SimulatedMemberState.objects.filter(member=member).update(
        changed_at=SimulatedMemberState.objects.get(member=member).changed_at - timedelta(seconds=seconds)
    )


def test_a_drained_member_keeps_its_connections_until_drain_seconds_pass():
    lb = simulated(connections=3, drain_seconds=600)

    first = lb.drain_many(MEMBERS[:1])[MEMBERS[0]]
    again = lb.drain_many(MEMBERS[:1])[MEMBERS[0]]  # the engine polls like this while it waits
    drained_long_ago(MEMBERS[0], 601)
    closed = lb.drain_many(MEMBERS[:1])[MEMBERS[0]]

    assert (first.admin, first.connections) == (DRAIN, 3)
    assert (again.admin, again.connections) == (DRAIN, 3)
    assert (closed.admin, closed.connections) == (DRAIN, 0)
    assert lb.states_many(MEMBERS[:1])[MEMBERS[0]].connections == 0


def test_draining_again_does_not_restart_the_drain_clock():
    lb = simulated(connections=3, drain_seconds=600)
    lb.drain_many(MEMBERS)
    drained_long_ago(MEMBERS[0], 601)

    answer = lb.drain_many(MEMBERS)

    assert {m: s.connections for m, s in answer.items()} == {MEMBERS[0]: 0, MEMBERS[1]: 3, MEMBERS[2]: 3}


def test_restoring_restarts_the_drain_clock():
    lb = simulated(connections=3, drain_seconds=600)
    lb.drain_many(MEMBERS[:1])
    drained_long_ago(MEMBERS[0], 601)

    restored = lb.restore_many(MEMBERS[:1])[MEMBERS[0]]
    drained = lb.drain_many(MEMBERS[:1])[MEMBERS[0]]

    assert restored == MemberState(admin=UP, connections=3, health=UP)
    assert (drained.admin, drained.connections) == (DRAIN, 3)


def test_without_drain_seconds_a_drained_member_has_no_connections_at_once():
    lb = simulated(connections=3)

    answer = lb.drain_many(MEMBERS)

    assert {s.connections for s in answer.values()} == {0}


def test_unhealthy_members_report_health_down_in_every_answer():
    lb = simulated(unhealthy_members=[MEMBERS[1]])

    drained, restored, read = lb.drain_many(MEMBERS), lb.restore_many(MEMBERS), lb.states_many(MEMBERS)

    for answer in (drained, restored, read):
        assert {m: s.health for m, s in answer.items()} == {MEMBERS[0]: UP, MEMBERS[1]: "down", MEMBERS[2]: UP}
    assert lb.state(MEMBERS[1]).health == "down"


def test_a_member_named_twice_in_a_batch_is_answered_once():
    lb = simulated()

    drained = lb.drain_many([MEMBERS[0], MEMBERS[1], MEMBERS[0]])
    restored = lb.restore_many([MEMBERS[1], MEMBERS[1]])

    assert {m: s.admin for m, s in drained.items()} == {MEMBERS[0]: DRAIN, MEMBERS[1]: DRAIN}
    assert {m: s.admin for m, s in restored.items()} == {MEMBERS[1]: UP}
    assert SimulatedMemberState.objects.count() == 2


def test_pools_keep_separate_states_for_the_same_member_name():
    cert, test = simulated("shop-api-cert"), simulated("shop-api-test")

    cert.drain_many(MEMBERS[:1])

    assert cert.state(MEMBERS[0]).admin == DRAIN
    assert test.state(MEMBERS[0]).admin == UP


def test_a_batch_call_is_one_statement_whatever_its_size():
    lb = simulated()
    members = [f"bench-{n:05d}.example.test" for n in range(100)]

    with CaptureQueriesContext(connection) as drain:
        drained = lb.drain_many(members)
    with CaptureQueriesContext(connection) as drain_again:
        lb.drain_many(members)
    with CaptureQueriesContext(connection) as read:
        lb.states_many(members)
    with CaptureQueriesContext(connection) as restore:
        restored = lb.restore_many(members)

    assert {s.admin for s in drained.values()} == {DRAIN} and {s.admin for s in restored.values()} == {UP}
    assert [len(drain), len(drain_again), len(read), len(restore)] == [1, 1, 1, 1]
