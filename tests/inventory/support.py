"""Helpers for the inventory tests (imported by the test modules)."""

from orbiter.catalog.models import Host, Pin
from orbiter.inventory.puppetdb import Node


def node(certname: str, *, classes=("Shop_api",), dc="dc1", active=True, **facts) -> Node:
    return Node(certname=certname, active=active, classes=frozenset(classes),
                facts={"os": {"family": "RedHat"}, "ipaddress": "10.0.0.1", "dc": dc, **facts})


def apps_of(certname: str) -> list[str]:
    return sorted(Host.objects.get(certname=certname).applications.values_list("name", flat=True))


def pins_of(certname: str) -> dict:
    return {pin.application.name: pin.artifact.label for pin in Pin.objects.filter(host__certname=certname)}


def members_of(certname: str) -> list[str]:
    return sorted(f"{m.pool.name}/{m.member}" for m in Host.objects.get(certname=certname).pool_memberships.all())
