"""The reply listener never dies of a message and never loops on one: each hostile reply is
refused with its code before anything is written, the listener goes on, and the genuine
reply behind it is recorded. (The same cases on the real stack:
tests/integration/test_listener_hostile.py.)"""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orbiter.bus.base import DEAD_LETTER, bus_from_settings, reset_bus
from orbiter.bus.listener import ReplyListener
from orbiter.catalog.models import Host
from orbiter.deployments import states
from tests.bus.hostile import CASES, Sender
from tests.bus.support import enrolled_fleet
from tests.deployments.support import host, host_deployment, request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fleet(settings, tmp_path):
    agents = enrolled_fleet(settings, tmp_path, "memory://", hosts=2)
    yield agents
    reset_bus()


@pytest.fixture
def listener(fleet):
    listener = ReplyListener(bus_from_settings())
    listener.start()
    return listener


@pytest.fixture
def waiting(tasks, fleet):
    """A rollout waiting for host 1's puppet.run reply: (deployment, the request)."""
    deployment = request("1.0.0-1", strategy={"batch_size": "1"})
    tasks.run_until(lambda: bool(fleet.take(host(1))), timeout=10)
    (puppet_run,) = fleet.received[host(1)]
    return deployment, puppet_run


def attacker(fleet, puppet_run) -> Sender:
    return Sender(host(1), fleet.keys[host(1)], puppet_run.id)


def send(body: bytes) -> None:
    from orbiter.bus.base import REPLIES

    bus_from_settings().send(REPLIES, body)


def dead_letters() -> list:
    return bus_from_settings().receive(DEAD_LETTER)


def report(fleet, certname, packages, *, now=None):
    from orbiter_agent import protocol

    envelope = protocol.make_report({"ok": True, "packages": packages}, sender=certname, now=now or time.time())
    return protocol.encode(protocol.sign(envelope, fleet.keys[certname]))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hostile_reply_is_refused_and_the_genuine_one_behind_it_recorded(case, fleet, listener, waiting):
    deployment, puppet_run = waiting
    seen_before = Host.objects.get(certname=host(1)).last_seen_at

    send(case.build(attacker(fleet, puppet_run)))
    bus_from_settings().step()  # the listener would have died here

    assert listener.refused == {case.code: 1}
    hd = host_deployment(deployment, host(1))
    assert (hd.status, hd.outcome) == (states.CONVERGING, None)
    stored = Host.objects.get(certname=host(1))
    assert (stored.facts.get("packages"), stored.last_seen_at) == (None, seen_before)
    kept = dead_letters()
    assert len(kept) == (1 if case.dead_letter else 0)
    if kept:
        assert kept[0].headers["orbiter-refused"] == case.code

    fleet.answer(host(1), puppet_run, {"ok": True, "kind": "changed", "changed": True})
    bus_from_settings().step()
    assert host_deployment(deployment, host(1)).outcome["ok"] is True
    assert listener.recorded == 1


def test_one_bad_reply_in_a_batch_does_not_take_its_neighbours_down(fleet, listener, waiting):
    deployment, puppet_run = waiting
    evil = attacker(fleet, puppet_run)
    send(report(fleet, host(2), {"shop-api": "1.0.0-1"}))
    send(evil.run(logs=7))
    fleet.answer(host(1), puppet_run, {"ok": True, "kind": "changed", "changed": True})

    bus_from_settings().step()  # all three in one batch

    assert listener.refused == {"bad_result": 1}
    assert host_deployment(deployment, host(1)).outcome["ok"] is True
    assert Host.objects.get(certname=host(2)).facts["packages"] == {"shop-api": "1.0.0-1"}


@pytest.fixture
def host_2_unwritable(fleet):
    """The database refuses any change to host 2's row (a trigger), whatever is written."""
    table = Host._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION refuse_host() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'host row refused'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_host BEFORE UPDATE ON {table}
            FOR EACH ROW WHEN (NEW.certname = '{host(2)}') EXECUTE FUNCTION refuse_host();
        """)
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER refuse_host ON {table}; DROP FUNCTION refuse_host();")


def test_a_batch_the_database_refuses_is_recorded_message_by_message(fleet, listener, host_2_unwritable):
    """A reply that passes every check but that the database still refuses: only it is
    refused and dead-lettered; the others in its batch stand."""
    send(report(fleet, host(1), {"shop-api": "1.0.0-1"}))
    send(report(fleet, host(2), {"shop-api": "1.0.0-1"}))

    bus_from_settings().step()

    assert listener.refused == {"unrecordable": 1}
    assert Host.objects.get(certname=host(1)).facts["packages"] == {"shop-api": "1.0.0-1"}
    assert [m.headers["orbiter-sender"] for m in dead_letters()] == [host(2)]


def test_a_replayed_report_does_not_refresh_last_seen(fleet, listener):
    body = report(fleet, host(1), {"shop-api": "1.0.0-1"})
    send(body)
    bus_from_settings().step()
    first = Host.objects.get(certname=host(1)).last_seen_at
    Host.objects.filter(certname=host(1)).update(last_seen_at=None)

    send(body)  # the same signed report, captured and sent again
    bus_from_settings().step()

    assert first is not None
    assert Host.objects.get(certname=host(1)).last_seen_at is None


def test_an_unawaited_reply_does_not_refresh_last_seen(fleet, listener, waiting):
    deployment, puppet_run = waiting
    fleet.answer(host(1), puppet_run, {"ok": True, "kind": "changed"})
    bus_from_settings().step()
    assert Host.objects.get(certname=host(1)).last_seen_at is not None
    Host.objects.filter(certname=host(1)).update(last_seen_at=None)

    fleet.answer(host(1), puppet_run, {"ok": True, "kind": "changed"})  # answered already: nobody waits
    bus_from_settings().step()

    assert Host.objects.get(certname=host(1)).last_seen_at is None


def test_a_flood_from_unknown_senders_costs_one_query_per_batch(fleet, listener):
    from tests.bus.hostile import _dumps, random_signature

    junk = Sender("nobody.example.test", None, "x")
    for _ in range(100):
        send(_dumps({**junk.obj(), "signature": random_signature()}))

    with CaptureQueriesContext(connection) as queries:
        bus_from_settings().step()  # one batch of 100

    assert listener.refused == {"unknown_sender": 100}
    assert len(queries) <= 3  # savepoint, the senders' keys, release


def test_a_field_no_action_defines_is_accepted_but_never_stored(fleet, listener):
    from orbiter_agent import protocol

    facts = {"ok": True, "packages": {"shop-api": "1.0.0-1"}, "x-new": "\x00",
             "last_run": {"time_s": 12.5, "x-new": "\x00" * 3, "resources": {"changed": 1}}}
    envelope = protocol.make_report(facts, sender=host(1), now=time.time())
    send(protocol.encode(protocol.sign(envelope, fleet.keys[host(1)])))

    bus_from_settings().step()

    assert listener.refused == {}
    stored = Host.objects.get(certname=host(1)).facts
    assert stored["last_run"] == {"time_s": 12.5, "resources": {"changed": 1}}
    assert "x-new" not in stored
