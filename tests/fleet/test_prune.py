"""--prune deletes what the files no longer list, of the kinds they name, and refuses,
naming every object, while a deployment in progress involves them."""

import pytest

from orbiter.catalog import services as catalog
from orbiter.catalog.models import Application, Environment, FreezeWindow, Host
from orbiter.deployments import services as deployments
from orbiter.fleet.errors import FleetError
from orbiter.loadbalancers.models import Pool
from tests.fleet.support import apply, changed_objects

pytestmark = pytest.mark.django_db

FLEET = """
environments:
  - {name: staging, order: 1}
applications:
  - {name: shop-api, package: shop-api}
  - {name: cart, package: cart}
hosts:
  - {name: web-01.example.com, environment: staging, applications: [shop-api]}
  - {name: web-02.example.com, environment: staging, applications: [cart]}
pools:
  - name: cart-staging
    application: cart
    environment: staging
    members: {web-02.example.com: web-02}
"""
WITHOUT_CART = """
environments:
  - {name: staging, order: 1}
applications:
  - {name: shop-api, package: shop-api}
hosts:
  - {name: web-01.example.com, environment: staging, applications: [shop-api]}
pools: []
"""


def test_prune_deletes_what_the_files_no_longer_list_dependents_first():
    apply(FLEET)

    outcome = apply(WITHOUT_CART, prune=True)

    assert changed_objects(outcome) == [("delete", "pools[cart-staging]"), ("delete", "hosts[web-02.example.com]"),
                                        ("delete", "applications[cart]")]
    assert sorted(Application.objects.values_list("name", flat=True)) == ["shop-api"]
    assert not Pool.objects.exists()


def test_prune_leaves_the_kinds_the_files_do_not_name():
    apply(FLEET)

    outcome = apply("applications:\n  - {name: shop-api, package: shop-api}\n  - {name: cart, package: cart}\n",
                    prune=True)

    assert outcome["changes"] == []
    assert Environment.objects.exists() and Host.objects.count() == 2


def test_without_prune_nothing_is_deleted():
    apply(FLEET)

    assert apply(WITHOUT_CART)["changes"] == []
    assert Application.objects.count() == 2


def test_prune_is_refused_naming_everything_a_deployment_in_progress_involves():
    apply(FLEET)
    catalog.artifact_register(application=Application.objects.get(name="cart"), nevra="cart-1.0-1.noarch",
                              actor="ci")
    deployment = deployments.deployment_create(application="cart", environment="staging", version="1.0-1",
                                               actor="bob")

    with pytest.raises(FleetError) as refused:
        apply(WITHOUT_CART, prune=True)

    involved = f"not deleted: deployment #{deployment.pk} ({deployment.status}) involves it; prune again once it ends"
    assert [(p["path"], p["message"]) for p in refused.value.extra["problems"]] == [
        ("pools[cart-staging]", involved),
        ("hosts[web-02.example.com]", involved),
        ("applications[cart]", involved),
    ]
    assert Application.objects.count() == 2 and Pool.objects.exists()


def test_prune_never_touches_one_off_freezes_and_locks():
    from datetime import timedelta

    from django.utils import timezone

    apply(FLEET)
    now = timezone.now()
    catalog.freeze_create(environment="staging", actor="ops", kind="once", starts_at=now,
                          ends_at=now + timedelta(hours=2), reason="incident")
    catalog.environment_lock(environment="staging", reason="incident", actor="ops")

    assert apply(FLEET, prune=True)["changes"] == []
    env = Environment.objects.get()
    assert env.is_locked and FreezeWindow.objects.filter(kind="once").count() == 1


def _from_source(certname: str) -> Host:
    """A host a PuppetDB source brought (its sync is inventory's; here its outcome is set)."""
    from orbiter.inventory import services as inventory

    env = Environment.objects.get(name="staging")
    source = inventory.hostsource_create(name="pdb", environment=env, url="https://pdb.example.com:8081",
                                         query="nodes[certname] {}", actor="ops")
    host = catalog.host_create(certname=certname, environment=env, applications=[], actor="pdb")
    Host.objects.filter(pk=host.pk).update(source=source)
    return host


def test_a_host_from_a_source_is_not_exported_not_pruned_and_not_listed_by_hand():
    from orbiter.fleet.export import fleet_export

    apply(FLEET)
    _from_source("node-01.example.com")

    assert "node-01.example.com" not in [h["name"] for h in fleet_export(["hosts"])["hosts"]]
    assert apply(FLEET, prune=True)["changes"] == []
    assert Host.objects.filter(certname="node-01.example.com").exists()
    with pytest.raises(FleetError) as refused:
        apply(FLEET + "---\nhosts: [{name: node-01.example.com, environment: staging}]\n")
    assert refused.value.message == ("fleet.yaml (document 2): hosts[node-01.example.com].name: node-01.example.com "
                                     "comes from host source pdb; a host from a source is not listed by hand (its "
                                     "source keeps it in step)")
