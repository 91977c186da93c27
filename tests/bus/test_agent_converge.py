"""Converging through agents: signed requests out on each host's queue, signed replies back
through the listener, the engine moving on only for a genuine answer."""

import pytest

from orbiter.bus.base import bus_from_settings, reset_bus
from orbiter.bus.listener import ReplyListener
from orbiter.deployments import states
from tests.bus.support import enrolled_fleet
from tests.deployments.support import host, host_deployment, request, status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fleet(settings, tmp_path):
    agents = enrolled_fleet(settings, tmp_path, "memory://", hosts=2)
    ReplyListener(bus_from_settings()).start()
    yield agents
    reset_bus()


def pump(tasks, condition, timeout=10):
    tasks.run_until(lambda: (bus_from_settings().step(), condition())[1], timeout=timeout)


def test_a_rollout_completes_on_signed_agent_replies(tasks, fleet):
    deployment = request("1.0.0-1", strategy={"batch_size": "2"})
    pump(tasks, lambda: fleet.take(host(1)) + fleet.take(host(2)) or False)

    for certname in (host(1), host(2)):
        (puppet_run,) = fleet.received[certname]
        assert puppet_run.action == "puppet.run"
        assert puppet_run.id == host_deployment(deployment, certname).request_id
        fleet.answer(certname, puppet_run, {"ok": True, "kind": "changed", "exit_code": 2, "changed": True,
                                                   "resources": {"changed": 3}})
    pump(tasks, lambda: status(deployment) in states.COMPLETED)

    assert status(deployment) == states.SUCCEEDED
    assert host_deployment(deployment, host(1)).puppet["resources"] == {"changed": 3}


def test_a_reply_signed_by_another_host_does_not_count(tasks, fleet):
    deployment = request("1.0.0-1", strategy={"batch_size": "2"})
    pump(tasks, lambda: bool(fleet.take(host(1))))
    (puppet_run,) = fleet.received[host(1)]

    # host 2 answers (with its own valid key) for host 1's request
    fleet.answer(host(2), puppet_run, {"ok": True})
    bus_from_settings().step()

    assert host_deployment(deployment, host(1)).status == states.CONVERGING
    assert host_deployment(deployment, host(1)).outcome is None


def test_a_forged_reply_is_refused(tasks, fleet, caplog):
    deployment = request("1.0.0-1", strategy={"batch_size": "2"})
    pump(tasks, lambda: bool(fleet.take(host(1))))
    (puppet_run,) = fleet.received[host(1)]

    fleet.answer(host(1), puppet_run, {"ok": True}, signed_by=host(2))  # claims host 1, signed with host 2's key
    bus_from_settings().step()

    assert host_deployment(deployment, host(1)).outcome is None
    assert "bad_signature" in caplog.text


def test_a_failed_puppet_run_costs_an_attempt_and_is_retried_under_a_new_id(tasks, fleet):
    deployment = request("1.0.0-1", strategy={"batch_size": "2", "retry_backoff_s": 0})
    pump(tasks, lambda: bool(fleet.take(host(1))))
    (first,) = fleet.received[host(1)]
    fleet.answer(host(1), first, {"ok": False, "kind": "resource_failures", "exit_code": 6, "error": "Exec[x] failed"})

    pump(tasks, lambda: bool(fleet.take(host(1))))
    second = fleet.received[host(1)][-1]

    assert second.id != first.id and second.id.endswith("-a2")
    assert host_deployment(deployment, host(1)).attempt == 2
