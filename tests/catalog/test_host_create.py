"""Registering hosts: certnames are DNS names; a host runs the applications it is given."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Host
from orbiter.common.errors import ValidationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def cert():
    app = catalog.application_create(name="shop-api", package="shop-api", actor="admin")
    env = catalog.environment_create(name="cert", order=0, actor="admin")
    return app, env


def test_it_registers_a_host_with_its_applications(cert):
    app, env = cert

    created = catalog.host_create(
        certname="web-01.example.test", environment=env, applications=[app], actor="alice"
    )

    assert list(created.applications.all()) == [app]
    assert created.healthy
    [event] = Event.objects.filter(verb="host.create")
    assert (event.actor, event.data) == ("alice", {"environment": "cert"})


@pytest.mark.parametrize(
    "certname", ["Web-01", "web_01", "-web", "web-.example", "", "a" * 64 + ".test", "web 01"]
)
def test_it_refuses_a_certname_that_is_not_a_dns_name(cert, certname):
    app, env = cert

    with pytest.raises(ValidationError) as refused:
        catalog.host_create(certname=certname, environment=env, applications=[app], actor="alice")

    assert refused.value.extra == {"field": "certname"}
    assert "lowercase DNS name" in refused.value.message
    assert not Host.objects.exists()
