"""Syncing a host source: PuppetDB's nodes become hosts of the environment at the version it
runs, leave (retired, never deleted) when they go, and nothing changes when PuppetDB fails."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.catalog.models import Host, Pin
from orbiter.inventory import services as inventory
from orbiter.inventory import sync
from orbiter.inventory.models import HostSource, NodeFacts
from orbiter.inventory.puppetdb import MemoryNodeSource, PuppetDBError
from orbiter.inventory.sync import source_sync
from orbiter.puppet.enc import node_classification
from tests.inventory.support import apps_of, members_of, node, pins_of

pytestmark = pytest.mark.django_db


def test_a_new_node_becomes_a_host_in_its_pools_pinned_to_the_version_the_environment_runs(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test", dc="dc2")])

    diff = source_sync(source, actor="alice")

    assert (diff.created, diff.nodes) == (["web-01.example.test"], 1)
    host = Host.objects.get(certname="web-01.example.test")
    assert (host.environment.name, host.source, host.retired_at, host.labels) == (
        "production", source, None, {"datacenter": "dc2"})
    assert apps_of(host.certname) == ["shop-api"]
    assert pins_of(host.certname) == {"shop-api": "1.1.0-1"}
    assert members_of(host.certname) == ["shop-prod/web-01"]
    assert NodeFacts.objects.get(host=host).facts == {"os.family": "RedHat", "ipaddress": "10.0.0.1"}


def test_the_enc_answers_a_new_host_the_environment_s_version_from_its_first_run(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test")])

    source_sync(source, actor="alice")

    Host.objects.filter(certname="web-01.example.test").update(agent_public_key="enrolled")  # its agent enrolled
    assert node_classification("web-01.example.test")["classes"] == {"shop_api": {"version": "1.1.0-1", "package": "shop-api"}}


def test_an_application_with_no_version_deployed_yet_is_joined_unpinned(source, memory_nodes):
    memory_nodes.set([node("bill-01.example.test", classes=(), role="billing")])

    source_sync(source, actor="alice")

    assert apps_of("bill-01.example.test") == ["billing"]
    assert pins_of("bill-01.example.test") == {}


def test_a_node_mapped_by_class_and_by_fact_runs_both_applications(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test", role="billing"), node("web-02.example.test", role=True)])

    source_sync(source, actor="alice")

    assert apps_of("web-01.example.test") == ["billing", "shop-api"]
    assert apps_of("web-02.example.test") == ["shop-api"]  # true is not "billing"


def test_a_node_gone_from_puppetdb_is_retired_out_of_its_pools_and_pins_never_deleted(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test"), node("web-02.example.test")])
    source_sync(source, actor="alice")
    memory_nodes.set([node("web-01.example.test")])

    diff = source_sync(source, actor="alice")

    assert diff.retired == ["web-02.example.test"]
    gone = Host.objects.get(certname="web-02.example.test")
    assert gone.retired_at is not None
    assert (apps_of(gone.certname), pins_of(gone.certname), members_of(gone.certname)) == ([], {}, [])
    retire = Event.objects.get(verb="host.retire", object_id=str(gone.pk))
    assert retire.data["applications"] == ["shop-api"]
    assert Host.objects.get(certname="web-01.example.test").retired_at is None


def test_a_deactivated_node_is_retired(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test"), node("web-02.example.test")])
    source_sync(source, actor="alice")
    memory_nodes.set([node("web-01.example.test", active=False), node("web-02.example.test")])

    assert source_sync(source, actor="alice").retired == ["web-01.example.test"]


def test_a_retired_node_that_comes_back_is_reactivated_at_the_current_version(source, memory_nodes, fleet):
    memory_nodes.set([node("web-01.example.test"), node("web-02.example.test")])
    source_sync(source, actor="alice")
    memory_nodes.set([node("web-02.example.test")])
    source_sync(source, actor="alice")
    # Meanwhile production moved on to 1.2.0-1 (its other host).
    shop = Pin.objects.get(host__certname="manual-01.example.test").application
    from orbiter.catalog import services as catalog

    newer = catalog.artifact_register(application=shop, nevra="shop-api-1.2.0-1.noarch", actor="setup")
    Pin.objects.filter(host__certname="manual-01.example.test").update(artifact=newer)
    memory_nodes.set([node("web-01.example.test")])

    diff = source_sync(source, actor="alice")

    assert diff.reactivated == ["web-01.example.test"]
    host = Host.objects.get(certname="web-01.example.test")
    assert host.retired_at is None
    assert (apps_of(host.certname), pins_of(host.certname), members_of(host.certname)) == (
        ["shop-api"], {"shop-api": "1.2.0-1"}, ["shop-prod/web-01"])


def test_changed_facts_labels_and_applications_are_updated(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test", dc="dc1", role="billing")])
    source_sync(source, actor="alice")
    memory_nodes.set([node("web-01.example.test", classes=(), dc="dc3", role="billing", ipaddress="10.0.0.9")])

    diff = source_sync(source, actor="alice")

    assert diff.updated == ["web-01.example.test"]
    host = Host.objects.get(certname="web-01.example.test")
    assert host.labels == {"datacenter": "dc3"}
    assert apps_of(host.certname) == ["billing"]
    assert (pins_of(host.certname), members_of(host.certname)) == ({}, [])  # left shop-api: its pin and pool
    assert NodeFacts.objects.get(host=host).facts["ipaddress"] == "10.0.0.9"
    event = Event.objects.get(verb="host.update", object_id=str(host.pk))
    assert event.data["applications"] == {"before": ["billing", "shop-api"], "after": ["billing"]}


def test_a_resync_with_nothing_changed_changes_nothing(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test")])
    source_sync(source, actor="alice")
    events = Event.objects.count()

    diff = source_sync(source, actor="alice")

    assert (diff.changed, diff.unchanged) == (False, 1)
    assert Event.objects.count() == events + 1  # the sync's own Event, no host's


def test_a_host_listed_by_hand_is_never_touched_and_the_clash_is_reported(source, memory_nodes):
    memory_nodes.set([node("manual-01.example.test", classes=(), dc="dc9")])

    diff = source_sync(source, actor="alice")

    assert diff.clashes == ["manual-01.example.test: a host listed by hand; left as it is"]
    manual = Host.objects.get(certname="manual-01.example.test")
    assert (manual.source, manual.labels, apps_of(manual.certname)) == (None, {}, ["shop-api"])
    memory_nodes.set([])
    assert source_sync(source, actor="alice").retired == []
    assert Host.objects.get(certname="manual-01.example.test").retired_at is None


def test_puppetdb_down_changes_nothing_and_says_so_keeping_the_last_good_sync(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test")])
    source_sync(source, actor="alice")
    good = HostSource.objects.get().last_success_at
    memory_nodes.error = "https://puppetdb.example.test:8081/pdb/query/v4: connection refused"

    with pytest.raises(PuppetDBError):
        source_sync(source, actor="alice")

    stored = HostSource.objects.get()
    assert (stored.last_success_at, stored.last_error) == (good, memory_nodes.error)
    assert Host.objects.get(certname="web-01.example.test").retired_at is None
    memory_nodes.error = ""
    source_sync(source, actor="alice")
    assert HostSource.objects.get().last_error == ""


def test_a_dry_run_reports_the_diff_and_writes_nothing(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test")])
    events = Event.objects.count()

    diff = source_sync(source, actor="alice", dry_run=True)

    assert diff.created == ["web-01.example.test"]
    assert not Host.objects.filter(certname="web-01.example.test").exists()
    assert Event.objects.count() == events
    assert HostSource.objects.get().last_success_at is None


def test_a_sync_is_one_audited_event_with_its_counts_and_certnames(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test")])

    source_sync(source, actor="alice")

    [event] = Event.objects.filter(verb="hostsource.sync")
    assert event.actor == "alice"
    assert event.data["created"] == ["web-01.example.test"]
    assert event.data["counts"]["created"] == 1
    assert Event.objects.filter(verb="host.create", actor="alice").count() == 1


def test_a_pool_created_after_the_hosts_joined_gets_them_at_the_next_sync(source, memory_nodes, fleet):
    memory_nodes.set([node("bill-01.example.test", classes=(), role="billing")])
    source_sync(source, actor="alice")
    from orbiter.catalog.models import Application
    from orbiter.loadbalancers.models import Pool

    Pool.objects.create(name="billing-prod", application=Application.objects.get(name="billing"), environment=fleet)

    assert source_sync(source, actor="alice").pool_members_added == 1
    assert members_of("bill-01.example.test") == ["billing-prod/bill-01.example.test"]


def test_the_writes_are_in_bulk_the_same_number_of_queries_for_10_or_200_nodes(source, fleet, monkeypatch):
    """First sync, a no-change re-sync, then half the nodes gone and half changed: each costs
    as many queries for 200 nodes as for 10."""
    other = inventory.hostsource_create(name="prod-b", environment=fleet, actor="setup", url=source.url,
                                        query=source.query, facts=source.facts, labels=source.labels,
                                        applications=source.applications)
    nodes = {"prod": MemoryNodeSource(), "prod-b": MemoryNodeSource()}
    monkeypatch.setattr(sync, "connect", lambda host_source: nodes[host_source.name])

    def queries(host_source, prefix: str, count: int) -> list[int]:
        counts = []
        everyone = [node(f"{prefix}-{i:03d}.example.test", role="billing") for i in range(count)]
        half = [node(n.certname, dc="dc9", classes=()) for n in everyone[: count // 2]]
        for step in (everyone, everyone, half):
            nodes[host_source.name].set(step)
            with CaptureQueriesContext(connection) as captured:
                sync.source_sync(host_source, actor="alice")
            counts.append(len(captured))
        return counts

    small, large = queries(source, "a", 10), queries(other, "b", 200)

    assert small == large
    assert max(large) <= 40
    assert Host.objects.filter(source=other, retired_at__isnull=False).count() == 100


def test_a_node_back_after_its_source_moved_environment_comes_back_in_the_new_one(source, memory_nodes):
    from orbiter.catalog import services as catalog

    memory_nodes.set([node("web-01.example.test")])
    source_sync(source, actor="alice")
    Host.objects.filter(certname="web-01.example.test").update(retired_at=timezone.now())  # retired by hand
    staging = catalog.environment_create(name="staging", order=1, actor="setup")
    inventory.hostsource_update(source=source, actor="alice", environment=staging)
    memory_nodes.set([node("web-01.example.test")])

    assert source_sync(source, actor="alice").reactivated == ["web-01.example.test"]
    host = Host.objects.get(certname="web-01.example.test")
    assert (host.environment.name, host.retired_at, members_of(host.certname)) == ("staging", None, [])


def test_an_empty_answer_while_the_source_has_hosts_is_refused_and_retires_nothing(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test"), node("web-02.example.test")])
    source_sync(source, actor="alice")
    memory_nodes.set([node("web-01.example.test", active=False)])

    with pytest.raises(PuppetDBError) as refused:
        source_sync(source, actor="alice")

    assert "returned no active node, and the source has 2 hosts; refusing to retire them all" in refused.value.message
    assert Host.objects.filter(source=source, retired_at__isnull=True).count() == 2
    assert HostSource.objects.get().last_error == refused.value.message


def test_a_node_whose_agent_enrolled_before_puppetdb_knew_it_gets_the_offered_key_as_pending(source, memory_nodes):
    from orbiter.catalog.agents import agent_enroll
    from orbiter.catalog.models import UnassignedHost
    from orbiter_agent.keys import generate_keypair

    key = generate_keypair()[1]
    assert agent_enroll(certname="web-09.example.test", public_key=key) == "pending"
    assert UnassignedHost.objects.filter(certname="web-09.example.test").exists()
    memory_nodes.set([node("web-09.example.test")])

    source_sync(source, actor="alice")

    host = Host.objects.get(certname="web-09.example.test")
    assert (host.agent_key_pending, host.agent_public_key) == (key, "")
    assert not UnassignedHost.objects.filter(certname="web-09.example.test").exists()
