"""Revocation and rotation hold at once on a listener that is already running: it never
trusts a key no longer enrolled, always trusts the one that is, and a genuine reply it
refuses for a key reason is kept on the dead-letter queue, not dropped."""

import pytest

from orbiter.bus.base import DEAD_LETTER, bus_from_settings, reset_bus
from orbiter.bus.listener import ReplyListener
from orbiter.catalog.agents import (
    agent_enroll,
    agent_key_approve,
    agent_key_revoke,
    enrollment_token_create,
    fingerprint,
)
from orbiter.deployments import states
from orbiter_agent.keys import generate_keypair, load_private_key, write_private_key
from tests.bus.support import enrolled_fleet
from tests.deployments.support import host, host_deployment, request

pytestmark = pytest.mark.django_db(transaction=True)
DONE = {"ok": True, "kind": "changed", "changed": True}


@pytest.fixture
def fleet(settings, tmp_path):
    agents = enrolled_fleet(settings, tmp_path, "memory://", hosts=2)
    yield agents
    reset_bus()


@pytest.fixture
def running(fleet, tasks):
    """A listener that has already handled a reply (so anything it cached is warm), and a
    rollout waiting for host 1."""
    listener = ReplyListener(bus_from_settings())
    listener.start()
    deployment = request("1.0.0-1", strategy={"batch_size": "1"})
    tasks.run_until(lambda: bool(fleet.take(host(1))), timeout=10)
    (puppet_run,) = fleet.received[host(1)]
    fleet.answer(host(2), puppet_run, {"ok": True})  # host 2's key is used once: refused, but loaded
    bus_from_settings().step()
    bus_from_settings().receive(DEAD_LETTER)
    return listener, deployment, puppet_run


def rotate(fleet, tmp_path, certname, *, by):
    """The documented rotation: a new pair on the host, enrolled with a token or approved."""
    pem, public = generate_keypair()
    path = tmp_path / f"{certname}.new.key"
    write_private_key(path, pem)
    if by == "token":
        agent_enroll(certname=certname, public_key=public, token=enrollment_token_create(certname=certname, actor="admin"))
    else:
        agent_enroll(certname=certname, public_key=public)
        agent_key_approve(certname=certname, expected_fingerprint=fingerprint(public), actor="admin")
    return load_private_key(path)


def test_a_running_listener_refuses_a_reply_signed_with_a_revoked_key(fleet, running):
    listener, deployment, puppet_run = running

    agent_key_revoke(certname=host(1), actor="admin")
    fleet.answer(host(1), puppet_run, DONE)
    bus_from_settings().step()

    hd = host_deployment(deployment, host(1))
    assert (hd.status, hd.outcome) == (states.CONVERGING, None)
    (kept,) = bus_from_settings().receive(DEAD_LETTER)
    assert (kept.headers["orbiter-refused"], kept.headers["orbiter-sender"]) == ("unknown_sender", host(1))


@pytest.mark.parametrize("by", ["token", "approve"])
def test_a_running_listener_trusts_a_rotated_key_at_once_and_refuses_the_old_one(fleet, running, tmp_path, by):
    listener, deployment, puppet_run = running
    old_key = fleet.keys[host(1)]

    fleet.keys[host(1)] = rotate(fleet, tmp_path, host(1), by=by)
    fleet.keys["old"] = old_key
    fleet.answer(host(1), puppet_run, DONE, signed_by="old")
    bus_from_settings().step()

    assert host_deployment(deployment, host(1)).outcome is None
    (kept,) = bus_from_settings().receive(DEAD_LETTER)
    assert kept.headers["orbiter-refused"] == "bad_signature"

    fleet.answer(host(1), puppet_run, DONE)  # signed with the new key
    bus_from_settings().step()

    assert host_deployment(deployment, host(1)).outcome["ok"] is True
    assert listener.recorded == 1
