"""A worker killed at any point loses nothing: the next advance() (from the sweeper)
finds the step's deadline or its recorded result and carries on safely."""

import pytest

from orbiter.converge.drivers.simulated import SimulatedConverge
from orbiter.deployments import engine, states
from orbiter.deployments.models import HostDeployment
from orbiter.loadbalancers.drivers.simulated import SimulatedLoadBalancer
from tests.conftest import build_fleet
from tests.deployments.support import (
    host,
    host_path,
    lb_admin,
    ledger,
    pins,
    request,
    run_to_end,
    status,
)

pytestmark = pytest.mark.django_db(transaction=True)

FULL_PATH = ["pending", "draining", "converging", "verifying", "enabling", "done"]


@pytest.fixture
def quick_sweeper(settings):
    # The sweeper picks up a deployment nobody advanced for this long (15 s in production).
    settings.ORBITER_STALE_SECONDS = 0.1


def _killed_on_first_call(monkeypatch, cls, name: str) -> None:
    """The worker process dies the first time it makes this outward call."""
    original = getattr(cls, name)
    calls = []

    def dying(self, *args, **kwargs):
        calls.append(name)
        if len(calls) == 1:
            raise SystemExit("worker killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, dying)


def test_calling_advance_again_and_again_does_every_step_once(tasks):
    build_fleet(hosts=3, defaults={"batch_size": "2"}, converge={"duration_s": 0.02})
    deployment = request("1.1.0-1")

    def advanced_and_finished() -> bool:
        engine.advance(deployment.pk)
        engine.advance(deployment.pk)
        return status(deployment) in states.COMPLETED

    tasks.run_until(advanced_and_finished)

    assert status(deployment) == states.SUCCEEDED
    assert host_path(deployment) == {host(n): FULL_PATH for n in range(1, 4)}
    assert all(len(ledger(host(n))) == 1 for n in range(1, 4))


def test_a_worker_killed_while_sending_converges_is_recovered_by_the_deadline(
    tasks, monkeypatch, quick_sweeper
):
    _killed_on_first_call(monkeypatch, SimulatedConverge, "send")
    build_fleet(hosts=2, defaults={"batch_size": "2", "converge_timeout_s": 0.3})
    deployment = request("1.1.0-1")

    with pytest.raises(SystemExit):
        tasks.run_until(lambda: False)
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    assert host_path(deployment) == {host(1): FULL_PATH, host(2): FULL_PATH}
    assert [len(ledger(host(n))) for n in (1, 2)] == [1, 1]
    assert pins() == {host(1): "1.1.0-1", host(2): "1.1.0-1"}


def test_a_host_is_never_converged_while_in_service_after_a_worker_died_draining_it(
    tasks, monkeypatch, quick_sweeper
):
    _killed_on_first_call(monkeypatch, SimulatedLoadBalancer, "drain_many")
    build_fleet(hosts=1, defaults={"drain_timeout_s": 0.3})
    deployment = request("1.1.0-1")

    with pytest.raises(SystemExit):
        tasks.run_until(lambda: False)
    tasks.run_until(
        lambda: HostDeployment.objects.filter(deployment=deployment, status="converging").exists()
    )

    assert lb_admin(host(1)) == "drain"
