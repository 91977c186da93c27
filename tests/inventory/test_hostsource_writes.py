"""Creating, changing and deleting host sources: every field validated, refusals naming the
field with nothing written, one audited Event per change with before and after."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Host
from orbiter.common.errors import ValidationError
from orbiter.inventory import services as inventory
from orbiter.inventory.models import HostSource

pytestmark = pytest.mark.django_db

GOOD = {
    "url": "https://puppetdb.example.test:8081",
    "ca_file": "/etc/orbiter/puppetdb/ca.pem",
    "cert_file": "/etc/orbiter/puppetdb/orbiter.pem",
    "key_file": "/etc/orbiter/puppetdb/orbiter.key",
    "query": "nodes[certname] { resources { type = 'Class' and title = 'Shop_api' } }",
    "facts": ["os", "ipaddress", "dc"],
    "labels": {"datacenter": "dc"},
    "applications": [{"application": "shop-api", "class": "Shop_api"},
                     {"application": "shop-api", "fact": "role", "value": "shop"}],
    "interval_s": 120,
}


@pytest.fixture
def production():
    catalog.application_create(name="shop-api", package="shop-api", actor="setup")
    return catalog.environment_create(name="production", order=0, actor="setup")


def changes():
    return list(Event.objects.exclude(actor="setup"))


def test_it_creates_a_source_and_records_who_did_with_its_fields(production):
    source = inventory.hostsource_create(name="shop-prod", environment=production, actor="alice", **GOOD)

    assert HostSource.objects.get(name="shop-prod") == source
    [event] = changes()
    assert (event.actor, event.verb, event.object_id) == ("alice", "hostsource.create", str(source.pk))
    assert event.data["after"]["environment"] == "production"
    assert event.data["after"]["query"] == GOOD["query"]


@pytest.mark.parametrize("fields, field, allowed", [
    ({"name": "Shop Prod"}, "name", "lowercase letters"),
    ({"url": "ftp://puppetdb.example.test"}, "url", "http:// or https://"),
    ({"url": "puppetdb.example.test:8081"}, "url", "http:// or https://"),
    ({"url": "https://"}, "url", "http:// or https://"),
    ({"url": "https://admin:secret@puppetdb.example.test"}, "url", "without credentials"),
    ({"url": "https://puppetdb.example.test:port"}, "url", "not a URL"),
    ({"url": "http://puppetdb.example.test:8080"}, "ca_file", "need an https:// url"),
    ({"ca_file": "ca.pem"}, "ca_file", "absolute path"),
    ({"cert_file": "../orbiter.pem"}, "cert_file", "absolute path"),
    ({"key_file": ""}, "key_file", "both cert_file and key_file"),
    ({"cert_file": "", "key_file": "/k.pem"}, "cert_file", "both cert_file and key_file"),
    ({"query": ""}, "query", "PQL query"),
    ({"query": "   "}, "query", "PQL query"),
    ({"query": "nodes { }" + " " * 10_000}, "query", "at most 10000"),
    ({"query": "select * from nodes"}, "query", "starting with one of nodes"),
    ({"query": "catalogs[certname] {}"}, "query", "starting with one of nodes"),
    ({"facts": "os"}, "facts", "list of at most 100"),
    ({"facts": ["os", "os"]}, "facts", "distinct fact names"),
    ({"facts": ["os; drop"]}, "facts", "fact names"),
    ({"facts": [1]}, "facts", "fact names"),
    ({"labels": ["dc"]}, "labels", "{label: fact name}"),
    ({"labels": {"Data Center": "dc"}}, "labels", "{label: fact name}"),
    ({"labels": {"dc": 3}}, "labels", "{label: fact name}"),
    ({"applications": {"application": "shop-api"}}, "applications", "list of at most 200 rules"),
    ({"applications": [{"application": "shop-api"}]}, "applications", "applications[0]: a rule is"),
    ({"applications": [{"application": "shop-api", "class": "Shop_api", "fact": "role"}]}, "applications",
     "a rule is"),
    ({"applications": [{"application": "shop-api", "class": "Shop-api"}]}, "applications",
     "applications[0].class"),
    ({"applications": [{"application": "shop-api", "fact": "role", "value": 1.5}]}, "applications",
     "applications[0].value"),
    ({"applications": [{"application": "shop-api", "fact": "ro le", "value": "x"}]}, "applications",
     "applications[0].fact"),
    ({"applications": [{"application": "shop-api", "class": "Shop_api"},
                       {"application": "billing", "class": "Billing"}]}, "applications",
     "applications[1].application: no application 'billing'"),
    ({"interval_s": 29}, "interval_s", "from 30"),
    ({"interval_s": "300"}, "interval_s", "whole seconds"),
    ({"interval_s": True}, "interval_s", "whole seconds"),
    ({"enabled": "yes"}, "enabled", "true or false"),
    ({"token": "x"}, "token", "not a field of a host source"),
])
def test_it_refuses_a_bad_source_naming_the_field_and_what_is_allowed_writing_nothing(production, fields, field,
                                                                                     allowed):
    given = {"name": "shop-prod", **GOOD, **fields}
    with pytest.raises(ValidationError) as refused:
        inventory.hostsource_create(environment=production, actor="alice", **given)

    assert refused.value.extra == {"field": field}
    assert allowed in refused.value.message
    assert not HostSource.objects.exists() and changes() == []


def test_it_refuses_a_source_without_an_environment(production):
    with pytest.raises(ValidationError) as refused:
        inventory.hostsource_create(name="shop-prod", environment="production", actor="alice", **GOOD)

    assert refused.value.extra == {"field": "environment"}


def test_it_refuses_a_second_source_of_the_same_name(production):
    inventory.hostsource_create(name="shop-prod", environment=production, actor="alice", **GOOD)

    with pytest.raises(ValidationError) as refused:
        inventory.hostsource_create(name="shop-prod", environment=production, actor="alice", **GOOD)

    assert refused.value.extra == {"field": "name"}
    assert HostSource.objects.count() == 1


def test_a_plain_http_source_without_tls_files_is_accepted(production):
    source = inventory.hostsource_create(name="lab", environment=production, actor="alice",
                                         url="http://127.0.0.1:8080", query="nodes[certname] {}")

    assert (source.url, source.facts, source.applications, source.interval_s) == (
        "http://127.0.0.1:8080", [], [], 300)


def test_a_change_is_one_event_with_before_and_after(production):
    source = inventory.hostsource_create(name="shop-prod", environment=production, actor="setup", **GOOD)

    inventory.hostsource_update(source=source, actor="bob", interval_s=600, facts=["os"])

    [event] = changes()
    assert (event.actor, event.verb) == ("bob", "hostsource.update")
    assert event.data == {"before": {"facts": ["os", "ipaddress", "dc"], "interval_s": 120},
                          "after": {"facts": ["os"], "interval_s": 600}}
    source.refresh_from_db()
    assert (source.interval_s, source.facts) == (600, ["os"])


def test_a_change_that_changes_nothing_writes_no_event(production):
    source = inventory.hostsource_create(name="shop-prod", environment=production, actor="setup", **GOOD)

    inventory.hostsource_update(source=source, actor="bob", interval_s=120)

    assert changes() == []


def test_a_bad_change_is_refused_naming_the_field_and_changes_nothing(production):
    source = inventory.hostsource_create(name="shop-prod", environment=production, actor="setup", **GOOD)

    with pytest.raises(ValidationError) as refused:
        inventory.hostsource_update(source=source, actor="bob", interval_s=600, url="gopher://x")

    assert refused.value.extra == {"field": "url"}
    source.refresh_from_db()
    assert (source.interval_s, source.url) == (120, GOOD["url"])
    assert changes() == []


def test_a_source_with_hosts_cannot_move_to_another_environment(production):
    source = inventory.hostsource_create(name="shop-prod", environment=production, actor="setup", **GOOD)
    test_env = catalog.environment_create(name="test", order=1, actor="setup")
    Host.objects.create(certname="web-01.example.test", environment=production, source=source)

    with pytest.raises(ValidationError) as refused:
        inventory.hostsource_update(source=source, actor="bob", environment=test_env)

    assert refused.value.extra == {"field": "environment"}
    assert "1 hosts in production" in refused.value.message
    assert HostSource.objects.get().environment == production


def test_deleting_a_source_keeps_its_hosts_as_hosts_listed_by_hand(production):
    source = inventory.hostsource_create(name="shop-prod", environment=production, actor="setup", **GOOD)
    Host.objects.create(certname="web-01.example.test", environment=production, source=source)

    inventory.hostsource_delete(source=source, actor="carol")

    assert not HostSource.objects.exists()
    host = Host.objects.get()
    assert (host.source, host.retired_at) == (None, None)
    [event] = changes()
    assert (event.actor, event.verb, event.data["hosts_released"]) == ("carol", "hostsource.delete", 1)
    assert event.data["before"]["url"] == GOOD["url"]


def test_a_changed_query_or_rule_makes_the_source_due_at_once(production):
    from datetime import timedelta

    from django.utils import timezone

    source = inventory.hostsource_create(name="shop-prod", environment=production, actor="setup", **GOOD)
    later = timezone.now() + timedelta(hours=1)
    HostSource.objects.update(next_sync_at=later)

    inventory.hostsource_update(source=source, actor="bob", interval_s=600)
    assert HostSource.objects.get().next_sync_at == later
    inventory.hostsource_update(source=source, actor="bob", query="nodes[certname] { }")
    assert HostSource.objects.get().next_sync_at <= timezone.now()
