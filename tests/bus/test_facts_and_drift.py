"""Agents report what is installed; Orbiter keeps it and flags hosts where it differs from the pin."""

import time

import pytest
from django.core.management import call_command

from orbiter.bus.base import REPLIES, bus_from_settings, reset_bus
from orbiter.bus.listener import ReplyListener
from orbiter.catalog.models import Host
from orbiter.catalog.selectors import host_versions
from orbiter_agent import protocol
from tests.bus.support import enrolled_fleet
from tests.deployments.support import deploy, host

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agents(settings, tmp_path):
    agents = enrolled_fleet(settings, tmp_path, "memory://", hosts=2, agent_driver=False)
    ReplyListener(bus_from_settings()).start()
    yield agents
    reset_bus()


def report(agents, certname, packages, *, at=None):
    envelope = protocol.make_report({"ok": True, "certname": certname, "packages": packages, "last_run": None},
                                    sender=certname, now=at or time.time())
    bus_from_settings().send(REPLIES, protocol.encode(protocol.sign(envelope, agents.keys[certname])))
    bus_from_settings().step()


def test_a_report_records_the_installed_versions_and_when_the_host_was_seen(agents):
    report(agents, host(1), {"shop-api": "1.0.0-1"})

    reported = Host.objects.get(certname=host(1))
    assert reported.facts["packages"] == {"shop-api": "1.0.0-1"}
    assert reported.last_seen_at is not None


def test_a_host_whose_installed_version_differs_from_its_pin_is_flagged(agents, tasks, capsys):
    deploy(tasks, "1.1.0-1")
    report(agents, host(1), {"shop-api": "1.1.0-1"})
    report(agents, host(2), {"shop-api": "1.0.0-1"})  # someone downgraded it by hand

    drift = {row.certname: row.drift for row in host_versions()}
    assert drift == {host(1): False, host(2): True}

    call_command("hosts", "--drift")
    out = capsys.readouterr().out
    assert host(2) in out and "DRIFT" in out and host(1) not in out


def test_an_older_report_arriving_late_does_not_overwrite_a_newer_one(agents):
    now = time.time()
    report(agents, host(1), {"shop-api": "1.1.0-1"}, at=now)
    report(agents, host(1), {"shop-api": "1.0.0-1"}, at=now - 60)

    assert Host.objects.get(certname=host(1)).facts["packages"] == {"shop-api": "1.1.0-1"}


def test_a_report_signed_with_another_hosts_key_is_refused(agents):
    envelope = protocol.make_report({"ok": True, "packages": {"shop-api": "9.9.9-9"}}, sender=host(1), now=time.time())
    bus_from_settings().send(REPLIES, protocol.encode(protocol.sign(envelope, agents.keys[host(2)])))
    bus_from_settings().step()

    assert Host.objects.get(certname=host(1)).facts == {}


def test_the_facts_in_a_puppet_run_reply_are_recorded_with_its_result(agents):
    request = protocol.make_request("puppet.run", {"noop": False, "timeout_s": 60}, target=host(1),
                                    sender=protocol.CONTROL_PLANE, ttl_s=600, now=time.time())
    facts = {"packages": {"shop-api": "1.1.0-1"}, "last_run": {"resources": {"changed": 1}}}
    reply = protocol.make_reply(request, {"ok": True, "kind": "changed", "facts": facts},
                                sender=host(1), now=time.time())
    bus_from_settings().send(REPLIES, protocol.encode(protocol.sign(reply, agents.keys[host(1)])))
    bus_from_settings().step()

    reported = Host.objects.get(certname=host(1))
    assert reported.facts["packages"] == {"shop-api": "1.1.0-1"}
    assert reported.facts["last_run"] == {"resources": {"changed": 1}}


def test_reports_handled_in_one_batch_keep_each_hosts_newest(agents):
    now = time.time()
    for certname, version, at in [(host(1), "1.1.0-1", now), (host(1), "1.0.0-1", now - 60),
                                  (host(2), "2.0.0-1", now)]:
        envelope = protocol.make_report({"ok": True, "packages": {"shop-api": version}}, sender=certname, now=at)
        bus_from_settings().send(REPLIES, protocol.encode(protocol.sign(envelope, agents.keys[certname])))
    bus_from_settings().step()  # all three in one batch

    assert Host.objects.get(certname=host(1)).facts["packages"] == {"shop-api": "1.1.0-1"}
    assert Host.objects.get(certname=host(2)).facts["packages"] == {"shop-api": "2.0.0-1"}
    assert Host.objects.filter(last_seen_at__isnull=False).count() == 2
