"""Load-balancer faults during a rollout: a fault that outlasts the step's attempts pauses
the deployment (naming the pool and the error) instead of failing host after host, and
resuming retries; a host is done only when its enable succeeded; a host the load balancer
sees unhealthy after enable is taken out of service again and failed."""

import pytest

from orbiter.common.errors import DriverError
from orbiter.deployments import services, states
from orbiter.deployments.models import HostDeployment
from orbiter.loadbalancers.drivers.simulated import SimulatedLoadBalancer
from orbiter.loadbalancers.models import Pool
from tests.conftest import build_fleet
from tests.deployments.support import (
    deploy,
    deployment_events,
    host,
    host_deployment,
    host_path,
    hosts_by_status,
    lb_admin,
    request,
    run_to_end,
    run_until_status,
)

pytestmark = pytest.mark.django_db(transaction=True)

FULL_PATH = ["pending", "draining", "converging", "verifying", "enabling", "done"]


@pytest.fixture(params=["quick", "slow"])
def driver_speed(request, monkeypatch):
    """Run with the simulated load balancer called under the lock (quick) and as a driver
    that crosses a network would be, after commit (slow)."""
    if request.param == "slow":
        monkeypatch.setattr(SimulatedLoadBalancer, "quick", False)
    return request.param


class Outage:
    """The load balancer's API is unreachable (as a refused socket or a 503 would be) for
    the calls named, until `fixed`."""

    def __init__(self, monkeypatch, *calls: str):
        self.broken = True
        for call in calls:
            original = getattr(SimulatedLoadBalancer, call)

            def failing(driver, members, _original=original):
                if self.broken:
                    return {m: DriverError("connection refused by 127.0.0.1:9999", permanent=False) for m in members}
                return _original(driver, members)

            monkeypatch.setattr(SimulatedLoadBalancer, call, failing)

    def fix(self) -> None:
        self.broken = False


def test_a_load_balancer_down_while_enabling_pauses_the_deployment_and_resume_retries(tasks, monkeypatch,
                                                                                      driver_speed):
    build_fleet(hosts=2, defaults={"max_attempts": 2})
    outage = Outage(monkeypatch, "restore_many")
    deployment = request("1.1.0-1")

    deployment = run_until_status(tasks, deployment, states.PAUSED)

    assert deployment.message == (
        "paused: load balancer pool shop-api-cert keeps failing (1 host(s) waiting; "
        f"{host(1)}: enabling: pool shop-api-cert member {host(1)}: connection refused by 127.0.0.1:9999 "
        "after 2 attempt(s)); resume to retry"
    )
    assert hosts_by_status(deployment) == {host(1): "enabling", host(2): "pending"}  # never counted done
    assert lb_admin(host(1)) == "drain"
    [pause] = deployment_events(deployment, "deployment.pause")
    assert pause.actor == "engine" and pause.data["pools"] == ["shop-api-cert"]

    outage.fix()
    services.deployment_resume(deployment_id=deployment.pk, actor="alice")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    assert host_path(deployment) == {host(1): FULL_PATH, host(2): FULL_PATH}
    assert lb_admin(host(1)) == "up" and lb_admin(host(2)) == "up"


def test_a_load_balancer_down_while_draining_pauses_without_failing_hosts(tasks, monkeypatch, driver_speed):
    build_fleet(hosts=4, defaults={"max_attempts": 2, "batch_size": "2"})
    outage = Outage(monkeypatch, "drain_many")
    deployment = request("1.1.0-1")

    deployment = run_until_status(tasks, deployment, states.PAUSED)

    assert "paused: load balancer pool shop-api-cert keeps failing (2 host(s) waiting;" in deployment.message
    assert hosts_by_status(deployment) == {host(1): "draining", host(2): "draining", host(3): "pending",
                                           host(4): "pending"}

    services.deployment_resume(deployment_id=deployment.pk, actor="alice")  # still down: pauses again
    deployment = run_until_status(tasks, deployment, states.PAUSED)
    assert len(deployment_events(deployment, "deployment.pause")) == 2

    outage.fix()
    services.deployment_resume(deployment_id=deployment.pk, actor="alice")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.SUCCEEDED
    assert set(hosts_by_status(deployment).values()) == {"done"}


def test_a_permanent_load_balancer_refusal_still_fails_the_host(tasks):
    build_fleet(hosts=2, lb_options={"fail_members": [host(1)]})

    deployment = deploy(tasks, "1.1.0-1", strategy={"failure_budget": "0"})

    assert deployment.status == states.FAILED
    assert host_deployment(deployment, host(1)).status == "failed"


def test_a_host_unhealthy_on_the_load_balancer_after_enable_is_taken_out_and_failed(tasks, driver_speed):
    build_fleet(hosts=2)
    Pool.objects.update(options={"unhealthy_members": [host(2)]})

    deployment = deploy(tasks, "1.1.0-1", strategy={"batch_size": "2", "enable_timeout_s": 0.3,
                                                   "failure_budget": "1"})

    assert deployment.status == states.SUCCEEDED
    failed = host_deployment(deployment, host(2))
    assert failed.status == "failed"
    assert failed.error == (f"enabling: {host(2)} never reported healthy by the load balancer; "
                            "taken out of service")
    assert lb_admin(host(2)) == "drain"  # not left serving
    assert lb_admin(host(1)) == "up"
    assert deployment.message == (
        f"succeeded (1 done, 1 failed); left out of service: {host(2)} ({failed.error})")


def test_a_worker_dying_before_taking_an_unhealthy_host_out_leaves_it_to_the_next_round(tasks, monkeypatch,
                                                                                         settings):
    from orbiter.deployments import actions

    settings.ORBITER_STALE_SECONDS = 0.1  # the sweeper picks up a deployment nobody advanced
    monkeypatch.setattr(SimulatedLoadBalancer, "quick", False)
    original, calls = actions.take_out, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise SystemExit("worker killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(actions, "take_out", dying)
    build_fleet(hosts=1)
    Pool.objects.update(options={"unhealthy_members": [host(1)]})
    deployment = request("1.1.0-1", strategy={"enable_timeout_s": 0.3, "failure_budget": "1"})

    with pytest.raises(SystemExit):
        tasks.run_until(lambda: False)
    assert host_deployment(deployment, host(1)).status == "enabling"  # not failed while still serving
    assert lb_admin(host(1)) == "up"
    deployment = run_to_end(tasks, deployment)

    assert host_deployment(deployment, host(1)).error.endswith("taken out of service")
    assert lb_admin(host(1)) == "drain"
    assert len(calls) == 2


def test_a_cancelled_deployment_reports_the_unhealthy_host_it_leaves_out_of_service(tasks):
    build_fleet(hosts=3, converge={"fail_hosts": [host(1)], "duration_s": 0.05},
                health_options={"unhealthy_hosts": [host(1)]})
    deployment = request("1.1.0-1", strategy={"failure_budget": "1"})
    tasks.run_until(lambda: HostDeployment.objects.filter(deployment=deployment, host__certname=host(1),
                                                          status="failed").exists())

    services.deployment_cancel(deployment_id=deployment.pk, actor="alice")
    deployment = run_to_end(tasks, deployment)

    assert deployment.status == states.CANCELLED
    assert f"left out of service: {host(1)} (health check failed: " in deployment.message
    assert lb_admin(host(1)) == "drain"
    assert [e.verb for e in deployment_events(deployment)][-1] == "deployment.cancel"
