"""A fleet with one application in production, a pool, a version running, and a host source
whose PuppetDB is the in-memory node source (`memory_nodes`; `puppetdb` is the lab's real one)."""

import pytest

from orbiter.catalog import services as catalog
from orbiter.catalog.models import Artifact, Pin
from orbiter.inventory import services as inventory
from orbiter.inventory import sync
from orbiter.inventory.puppetdb import MemoryNodeSource
from orbiter.loadbalancers.models import Pool


@pytest.fixture
def memory_nodes(monkeypatch):
    """The node source every host source reads in this test (in memory)."""
    source = MemoryNodeSource()
    monkeypatch.setattr(sync, "connect", lambda host_source: source)
    return source


@pytest.fixture
def fleet(db):
    """shop-api in production on one host listed by hand, pinned at 1.1.0-1, in pool shop-prod
    (members by hostname); billing with no version deployed yet."""
    shop = catalog.application_create(name="shop-api", package="shop-api", actor="setup", converge_driver="simulated",
                                      converge_options={"duration_s": 0}, health_driver="simulated",
                                      rollout_defaults={"retry_backoff_s": 0, "drain_timeout_s": 1})
    catalog.application_create(name="billing", package="billing", actor="setup")
    production = catalog.environment_create(name="production", order=0, actor="setup")
    for version in ("1.0.0-1", "1.1.0-1"):
        catalog.artifact_register(application=shop, nevra=f"shop-api-{version}.noarch", actor="setup")
    Pool.objects.create(name="shop-prod", application=shop, environment=production, driver="simulated",
                        member_template="{hostname}")
    manual = catalog.host_create(certname="manual-01.example.test", environment=production, applications=[shop],
                                 actor="setup")
    Pin.objects.create(host=manual, application=shop, artifact=Artifact.objects.get(version="1.1.0"))
    return production


@pytest.fixture
def source(fleet):
    return inventory.hostsource_create(
        name="prod", environment=fleet, actor="setup", url="https://puppetdb.example.test:8081",
        query="nodes[certname] { facts { name = 'orbiter_env' and value = 'production' } }",
        facts=["os.family", "ipaddress"], labels={"datacenter": "dc"},
        applications=[{"application": "shop-api", "class": "Shop_api"},
                      {"application": "billing", "fact": "role", "value": "billing"}])

