"""Registering builds: a NEVRA of the application's package, once."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Artifact
from orbiter.common.errors import ValidationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    return catalog.application_create(name="shop-api", package="shop-api", actor="admin")


def test_it_registers_a_build_with_its_version(app):
    artifact = catalog.artifact_register(
        application=app,
        nevra="shop-api-2:1.4.0-3.el9.x86_64",
        actor="ci",
        build_url="https://ci.example.test/job/1",
    )

    assert (artifact.epoch, artifact.version, artifact.release, artifact.arch) == (
        2,
        "1.4.0",
        "3.el9",
        "x86_64",
    )
    assert artifact.label == "2:1.4.0-3.el9"
    [event] = Event.objects.filter(verb="artifact.register")
    assert (event.actor, event.data) == ("ci", {"nevra": "shop-api-2:1.4.0-3.el9.x86_64"})


def test_announcing_the_same_build_twice_registers_it_once(app):
    first = catalog.artifact_register(application=app, nevra="shop-api-1.4.0-3.noarch", actor="ci")
    again = catalog.artifact_register(
        application=app, nevra="shop-api-1.4.0-3.noarch", actor="poller"
    )

    assert again == first
    assert Artifact.objects.count() == 1
    assert Event.objects.filter(verb="artifact.register").count() == 1


def test_it_refuses_a_build_of_another_package(app):
    with pytest.raises(ValidationError) as refused:
        catalog.artifact_register(application=app, nevra="billing-1.0-1.noarch", actor="ci")

    assert refused.value.extra == {"field": "nevra"}
    assert "'billing' does not belong to shop-api" in refused.value.message
    assert not Artifact.objects.exists()


@pytest.mark.parametrize(
    "nevra",
    ["shop-api-1.0-1", "shop-api.noarch", "shop-api-1.0-1.sparc", "shop-api-x:1.0-1.noarch"],
)
def test_it_refuses_a_malformed_nevra(app, nevra):
    with pytest.raises(ValidationError) as refused:
        catalog.artifact_register(application=app, nevra=nevra, actor="ci")

    assert refused.value.extra == {"field": "nevra"}
    assert "allowed" in refused.value.message
    assert not Artifact.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_new_build_is_announced_once_to_subscribers_after_it_committed():
    from orbiter.catalog.signals import artifact_registered

    app = catalog.application_create(name="shop-api", package="shop-api", actor="admin")
    seen = []

    def receiver(sender, artifact, **kwargs):
        seen.append((artifact.label, Artifact.objects.filter(pk=artifact.pk).exists()))

    artifact_registered.connect(receiver)
    try:
        catalog.artifact_register(application=app, nevra="shop-api-1.4.0-3.noarch", actor="ci")
        catalog.artifact_register(application=app, nevra="shop-api-1.4.0-3.noarch", actor="poller")
    finally:
        artifact_registered.disconnect(receiver)
    assert seen == [("1.4.0-3", True)]
