"""The contract every load-balancer driver passes: one suite, run against each driver.

A driver's test module subclasses `LoadBalancerContract` and provides two fixtures:

    driver    a LoadBalancer for a pool with at least two members, all fresh (up, no traffic)
    members   the names of those members

and, when the driver can observe live connections, a third (the tests that need it are
skipped otherwise):

    connections   a function `connections(member, n) -> int`: open n live connections
                  through the load balancer, the way clients of the pool do (the load
                  balancer picks the member), hold them open until the test ends, and
                  return how many of them the load balancer sent to `member`.

Class attributes a driver may change: `disabled_admin` (DOWN where the load balancer has no
drain), `settle_s` (how long the load balancer may take to report a change, e.g. a health
check) and `unknown_member` (a name the pool does not have).

    from tests.loadbalancers.contract import LoadBalancerContract

    class TestF5Contract(LoadBalancerContract):
        @pytest.fixture
        def driver(self): ...
        @pytest.fixture
        def members(self): ...
"""

import time

import pytest

from orbiter.common.errors import DriverError
from orbiter.loadbalancers.base import DRAIN, UP, LoadBalancer, MemberState, registry


class LoadBalancerContract:
    disabled_admin = DRAIN
    settle_s = 5.0
    unknown_member = "no-such-member"

    # --- helpers -----------------------------------------------------------------------------

    def eventually(self, read, ok):
        """Call read() until ok(value) holds or settle_s passes; return the last value (the
        caller asserts on it, so a failure shows what the load balancer last said)."""
        deadline = time.monotonic() + self.settle_s
        value = read()
        while not ok(value) and time.monotonic() < deadline:
            time.sleep(0.05)
            value = read()
        return value

    def healthy(self, driver, member) -> MemberState:
        return self.eventually(lambda: driver.state(member), lambda s: s.health == UP)

    @staticmethod
    def open_connections(request):
        try:
            return request.getfixturevalue("connections")
        except pytest.FixtureLookupError:
            pytest.skip(
                "this driver's tests give no `connections` fixture: it cannot observe "
                "live connections"
            )

    # --- what the driver is --------------------------------------------------------------------

    def test_it_is_a_registered_load_balancer(self, driver):
        assert isinstance(driver, LoadBalancer)
        assert driver.name
        assert registry.get(driver.name) is type(driver)

    def test_it_says_whether_its_calls_are_quick(self, driver):
        assert isinstance(driver.quick, bool)

    def test_the_pool_has_at_least_two_members(self, members):
        assert len(members) >= 2
        assert len(set(members)) == len(members)

    # --- one member ------------------------------------------------------------------------------

    def test_a_fresh_member_is_up(self, driver, members):
        for member in members:
            state = self.healthy(driver, member)
            assert state.admin == UP
            assert state.health == UP
            assert isinstance(state.connections, int) and state.connections >= 0

    def test_disable_drains_the_member_and_only_it(self, driver, members):
        first, *others = members

        driver.disable(first)

        assert driver.state(first).admin == self.disabled_admin
        assert [driver.state(m).admin for m in others] == [UP] * len(others)

    def test_enable_puts_a_disabled_member_back_in_service(self, driver, members):
        member = members[0]
        driver.disable(member)

        driver.enable(member)

        assert driver.state(member).admin == UP
        assert self.healthy(driver, member).health == UP

    def test_disabling_twice_is_the_same_as_once(self, driver, members):
        member = members[0]
        driver.disable(member)
        once = driver.state(member)

        driver.disable(member)

        assert driver.state(member).admin == once.admin == self.disabled_admin
        driver.enable(member)  # no counting: one enable undoes any number of disables
        assert driver.state(member).admin == UP

    def test_enabling_twice_is_the_same_as_once(self, driver, members):
        member = members[0]
        driver.enable(member)  # already up: harmless
        driver.disable(member)

        driver.enable(member)
        driver.enable(member)

        assert driver.state(member).admin == UP
        assert self.healthy(driver, member).health == UP

    def test_the_state_of_an_unknown_member_is_a_permanent_error_naming_it(self, driver):
        with pytest.raises(DriverError) as raised:
            driver.state(self.unknown_member)

        assert raised.value.permanent is True
        assert self.unknown_member in raised.value.message

    def test_disabling_an_unknown_member_is_a_permanent_error_naming_it(self, driver):
        with pytest.raises(DriverError) as raised:
            driver.disable(self.unknown_member)

        assert raised.value.permanent is True
        assert self.unknown_member in raised.value.message

    # --- batches -----------------------------------------------------------------------------

    def test_drain_many_disables_every_member_given_and_reports_each(self, driver, members):
        answer = driver.drain_many(members)

        assert set(answer) == set(members)
        assert all(isinstance(s, MemberState) for s in answer.values()), answer
        assert {m: s.admin for m, s in answer.items()} == {m: self.disabled_admin for m in members}

    def test_restore_many_puts_every_member_back(self, driver, members):
        driver.drain_many(members)

        answer = driver.restore_many(members)

        assert set(answer) == set(members)
        assert all(isinstance(s, MemberState) for s in answer.values()), answer
        assert {m: s.admin for m, s in answer.items()} == {m: UP for m in members}
        assert [self.healthy(driver, m).health for m in members] == [UP] * len(members)

    def test_drain_many_answers_for_every_member_despite_a_bad_one(self, driver, members):
        given = [members[0], self.unknown_member, members[1]]

        answer = driver.drain_many(given)

        assert set(answer) == set(given)
        bad = answer[self.unknown_member]
        assert isinstance(bad, DriverError) and bad.permanent and self.unknown_member in bad.message
        assert answer[members[0]].admin == answer[members[1]].admin == self.disabled_admin

    def test_restore_many_answers_for_every_member_despite_a_bad_one(self, driver, members):
        driver.drain_many(members[:2])
        given = [self.unknown_member, *members[:2]]

        answer = driver.restore_many(given)

        assert set(answer) == set(given)
        bad = answer[self.unknown_member]
        assert isinstance(bad, DriverError) and bad.permanent and self.unknown_member in bad.message
        assert answer[members[0]].admin == answer[members[1]].admin == UP

    def test_states_many_reads_every_member_without_changing_any(self, driver, members):
        driver.disable(members[0])
        given = [members[0], self.unknown_member, members[1]]

        answer = driver.states_many(given)

        assert set(answer) == set(given)
        bad = answer[self.unknown_member]
        assert isinstance(bad, DriverError) and bad.permanent and self.unknown_member in bad.message
        assert answer[members[0]].admin == self.disabled_admin
        assert answer[members[1]].admin == UP
        assert driver.state(members[0]).admin == self.disabled_admin  # a read changed nothing

    def test_an_empty_batch_is_an_empty_answer(self, driver):
        assert driver.drain_many([]) == {}
        assert driver.restore_many([]) == {}
        assert driver.states_many([]) == {}

    # --- live connections (drivers that can observe them) ------------------------------------

    def test_it_counts_the_connections_a_member_holds(self, driver, members, request):
        connections = self.open_connections(request)
        member = members[0]

        held = connections(member, 2 * len(members))

        assert held >= 1, "the load balancer sent a fresh member none of the connections"
        state = self.eventually(lambda: driver.state(member), lambda s: s.connections == held)
        assert state.connections == held

    def test_a_disabled_member_gets_no_new_connections(self, driver, members, request):
        connections = self.open_connections(request)
        member, *others = members
        driver.disable(member)

        held = connections(member, 2 * len(members))

        assert held == 0
        assert driver.state(member).connections == 0
        others_hold = self.eventually(
            lambda: sum(driver.state(m).connections for m in others),
            lambda total: total >= 2 * len(members),
        )
        assert others_hold >= 2 * len(members)

    def test_a_disabled_member_keeps_its_open_connections(self, driver, members, request):
        connections = self.open_connections(request)
        member = members[0]
        held = connections(member, 2 * len(members))
        assert held >= 1

        drained = driver.drain_many([member])[member]

        assert drained.admin == self.disabled_admin
        assert drained.connections == held  # draining lets open connections finish
        assert driver.state(member).connections == held

    def test_an_enabled_member_gets_new_connections_again(self, driver, members, request):
        connections = self.open_connections(request)
        member = members[0]
        driver.disable(member)
        driver.enable(member)
        assert self.healthy(driver, member).health == UP

        held = connections(member, 2 * len(members))

        assert held >= 1
