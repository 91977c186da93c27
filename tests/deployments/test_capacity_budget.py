"""The engine keeps every pool within its capacity budget (`Pool.max_unavailable`): a batch
whose hosts would take too many members out of service waits, says why, and goes on when
there is room, also with two deployments sharing a pool."""

import time

import pytest

from orbiter.deployments import engine, services, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.loadbalancers.models import Pool, PoolMember, SimulatedMemberState
from tests.conftest import build_fleet
from tests.deployments.support import (
    host,
    host_path,
    lb_admin,
    pins,
    reload,
    request,
    run_to_end,
    status,
)

pytestmark = pytest.mark.django_db(transaction=True)

FULL_PATH = ["pending", "draining", "converging", "verifying", "enabling", "done"]


@pytest.fixture(autouse=True)
def _quick_capacity_polls(monkeypatch):
    # How soon a batch waiting for capacity looks again; 1 s in production.
    monkeypatch.setattr(engine, "CAPACITY_POLL_SECONDS", 0.02)


def _shared_pool(max_unavailable: str, *, per_environment: int = 3) -> Pool:
    """shop-api in `cert` and `test`, all hosts members of one pool (cert's)."""
    build_fleet(hosts=per_environment, environment="cert", defaults={"batch_size": "2"},
                converge={"duration_s": 0.03})
    build_fleet(hosts=per_environment, environment="test", versions=())
    pool = Pool.objects.get(name="shop-api-cert")
    PoolMember.objects.filter(pool__name="shop-api-test").update(pool=pool)
    Pool.objects.filter(name="shop-api-test").delete()
    pool.max_unavailable = max_unavailable
    pool.save(update_fields=["max_unavailable"])
    return pool


class Watch:
    """Samples, between tasks, what a user would see: how many members of the pool are out
    of service on the (simulated) load balancer or in flight, and the deployments' messages."""

    def __init__(self, deployments: list[Deployment]):
        self.ids = [d.pk for d in deployments]
        self.most_out = 0
        self.messages: set[str] = set()

    def done(self) -> bool:
        out_on_lb = set(SimulatedMemberState.objects.exclude(admin="up").values_list("member", flat=True))
        in_flight = set(HostDeployment.objects.filter(deployment_id__in=self.ids, status__in=states.IN_FLIGHT)
                        .values_list("host__certname", flat=True))
        self.most_out = max(self.most_out, len(out_on_lb | in_flight))
        self.messages.update(Deployment.objects.filter(pk__in=self.ids).values_list("message", flat=True))
        return all(s in states.COMPLETED for s in Deployment.objects.filter(pk__in=self.ids)
                   .values_list("status", flat=True))


def test_two_deployments_sharing_a_pool_never_take_more_than_its_budget_out(tasks):
    _shared_pool("1")
    cert = request("1.1.0-1")
    test = services.deployment_create(application="shop-api", environment="test", version="1.1.0-1", actor="bob",
                                      strategy={"batch_size": "2"})
    watch = Watch([cert, test])

    tasks.run_until(watch.done, timeout=30)

    assert [status(cert), status(test)] == [states.SUCCEEDED, states.SUCCEEDED]
    assert watch.most_out == 1
    assert any(m.startswith("batch ") and "waiting for capacity in pool shop-api-cert (1 of 6 out of service, max 1)"
               in m for m in watch.messages)
    everyone = [host(n, environment=env) for env in ("cert", "test") for n in (1, 2, 3)]
    assert pins() == dict.fromkeys(everyone, "1.1.0-1")
    assert all(lb_admin(name) == "up" for name in everyone)
    assert set(map(tuple, host_path(reload(cert)).values())) == {tuple(FULL_PATH)}


def test_a_budget_of_two_lets_two_hosts_out_at_once_but_not_three(tasks):
    _shared_pool("2")
    cert = request("1.1.0-1")
    test = services.deployment_create(application="shop-api", environment="test", version="1.1.0-1", actor="bob",
                                      strategy={"batch_size": "2"})
    watch = Watch([cert, test])

    tasks.run_until(watch.done, timeout=30)

    assert [status(cert), status(test)] == [states.SUCCEEDED, states.SUCCEEDED]
    assert watch.most_out == 2


def test_a_member_drained_by_hand_counts_and_the_batch_waits_until_it_is_back(tasks):
    pool = _shared_pool("1")
    SimulatedMemberState.objects.create(pool=pool.name, member=host(2, environment="test"), admin="drain")
    deployment = request("1.1.0-1")

    tasks.run_until(lambda: "waiting for capacity" in reload(deployment).message)
    assert reload(deployment).message == (
        "batch 1 of 2 waiting for capacity in pool shop-api-cert (1 of 6 out of service, max 1)")
    assert not HostDeployment.objects.filter(deployment=deployment).exclude(status="pending").exists()

    SimulatedMemberState.objects.filter(member=host(2, environment="test")).update(admin="up")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    assert pins() == {host(n): "1.1.0-1" for n in (1, 2, 3)}


def test_without_a_budget_a_whole_batch_goes_out_at_once(tasks):
    _shared_pool("")
    deployment = request("1.1.0-1")
    batch_seen = []

    def check() -> bool:
        batch_seen.append(HostDeployment.objects.filter(deployment=deployment, status__in=states.IN_FLIGHT).count())
        return status(deployment) in states.COMPLETED

    tasks.run_until(check)

    assert status(deployment) == states.SUCCEEDED
    assert max(batch_seen) == 2


def test_a_host_held_back_by_the_budget_starts_when_room_frees_not_when_its_whole_batch_is_done(tasks):
    # One batch of 3, a budget of 2: hosts 1 and 2 go out first. Host 1's converge is slow,
    # host 2's quick: host 3 takes host 2's place while host 1 is still converging.
    build_fleet(hosts=3, defaults={"batch_size": "3"},
                converge={"duration_s": 0.03, "slow_hosts": {host(1): 2.0}})
    Pool.objects.filter(name="shop-api-cert").update(max_unavailable="2")
    deployment = request("1.1.0-1")
    together, most_out, messages = set(), 0, set()

    def check() -> bool:
        nonlocal most_out
        in_flight = set(HostDeployment.objects.filter(deployment=deployment, status__in=states.IN_FLIGHT)
                        .values_list("host__certname", flat=True))
        out_on_lb = set(SimulatedMemberState.objects.exclude(admin="up").values_list("member", flat=True))
        most_out = max(most_out, len(in_flight | out_on_lb))
        if {host(1), host(3)} <= in_flight:
            together.add(reload(deployment).message)
        messages.add(reload(deployment).message)
        return status(deployment) in states.COMPLETED

    tasks.run_until(check, timeout=30)

    assert status(deployment) == states.SUCCEEDED
    assert together, f"host 3 waited for the whole batch; messages seen: {sorted(messages)}"
    assert most_out == 2
    assert "batch 1 of 1: 2 host(s), 1 waiting for capacity in pool shop-api-cert (2 of 3 out of service, max 2)" \
        in messages
    assert pins() == {host(n): "1.1.0-1" for n in (1, 2, 3)}
    assert set(map(tuple, host_path(reload(deployment)).values())) == {tuple(FULL_PATH)}


def test_room_given_back_by_hand_is_taken_by_the_next_poll_while_the_batch_is_in_flight(tasks):
    # A budget of 2 with another member drained by hand: host 1 (slow) goes out alone and
    # the others wait, saying so; when the member comes back, host 2 starts at the next
    # capacity poll, while host 1 is still converging.
    build_fleet(hosts=4, defaults={"batch_size": "3"},
                converge={"duration_s": 0.03, "slow_hosts": {host(1): 3.0}})
    pool = Pool.objects.get(name="shop-api-cert")
    pool.max_unavailable = "2"
    pool.save(update_fields=["max_unavailable"])
    SimulatedMemberState.objects.create(pool=pool.name, member=host(4), admin="drain")
    deployment = request("1.1.0-1")

    def in_flight() -> set[str]:
        return set(HostDeployment.objects.filter(deployment=deployment, status__in=states.IN_FLIGHT)
                   .values_list("host__certname", flat=True))

    waiting = "batch 1 of 2: 1 host(s), 2 waiting for capacity in pool shop-api-cert (2 of 4 out of service, max 2)"
    tasks.run_until(lambda: reload(deployment).message == waiting and in_flight() == {host(1)})
    later = time.monotonic() + 0.3  # capacity polls (every 0.02 s here) find no room meanwhile
    tasks.run_until(lambda: time.monotonic() > later)
    assert in_flight() == {host(1)} and reload(deployment).message == waiting

    SimulatedMemberState.objects.filter(member=host(4)).update(admin="up")
    tasks.run_until(lambda: host(2) in in_flight())

    assert host(1) in in_flight()
    deployment = run_to_end(tasks, deployment, timeout=30)
    assert deployment.status == states.SUCCEEDED
