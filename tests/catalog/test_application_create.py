"""Creating applications and environments: names are validated, every creation is audited."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Application, Environment
from orbiter.common.errors import ValidationError

pytestmark = pytest.mark.django_db


def test_it_creates_an_application_and_records_who_did():
    app = catalog.application_create(name="shop-api", package="shop-api", actor="alice")

    assert Application.objects.get(name="shop-api") == app
    [event] = Event.objects.filter(verb="application.create")
    assert (event.actor, event.object_id, event.data) == (
        "alice",
        str(app.pk),
        {"package": "shop-api"},
    )


@pytest.mark.parametrize("name", ["Shop", "1shop", "shop_api", "", "s" * 64, "shop api"])
def test_it_refuses_a_bad_application_name_saying_what_is_allowed(name):
    with pytest.raises(ValidationError) as refused:
        catalog.application_create(name=name, package="shop-api", actor="alice")

    assert refused.value.extra == {"field": "name"}
    assert "lowercase letters, digits and '-'" in refused.value.message
    assert not Application.objects.exists() and not Event.objects.exists()


@pytest.mark.parametrize("package", ["", "-shop", "shop api", "shöp"])
def test_it_refuses_a_bad_package_name(package):
    with pytest.raises(ValidationError) as refused:
        catalog.application_create(name="shop-api", package=package, actor="alice")

    assert refused.value.extra == {"field": "package"}
    assert "allowed" in refused.value.message
    assert not Application.objects.exists()


def test_it_refuses_invalid_rollout_defaults_when_the_application_is_created():
    with pytest.raises(ValidationError) as refused:
        catalog.application_create(
            name="shop-api",
            package="shop-api",
            actor="alice",
            rollout_defaults={"batch_size": "lots"},
        )

    assert refused.value.extra == {"field": "batch_size"}
    assert not Application.objects.exists()


def test_it_refuses_an_unknown_converge_driver_naming_the_known_ones():
    with pytest.raises(ValidationError) as refused:
        catalog.application_create(
            name="shop-api", package="shop-api", actor="alice", converge_driver="ansible"
        )

    assert "simulated" in refused.value.message
    assert not Application.objects.exists()


def test_it_creates_an_environment_and_refuses_a_bad_name():
    env = catalog.environment_create(
        name="production", order=2, actor="alice", requires_approval=True
    )

    assert env.requires_approval and not env.is_locked
    assert Event.objects.filter(verb="environment.create", object_id=str(env.pk)).exists()
    with pytest.raises(ValidationError) as refused:
        catalog.environment_create(name="Prod!", order=3, actor="alice")
    assert refused.value.extra == {"field": "name"}
    assert list(Environment.objects.values_list("name", flat=True)) == ["production"]


def test_it_refuses_health_check_options_that_cannot_work_naming_the_option():
    with pytest.raises(ValidationError) as refused:
        catalog.application_create(name="shop-api", package="shop-api", actor="alice",
                                   health_driver="http",
                                   health_options={"url": "http://{certname}:8080/health", "expected_status": 700})

    assert refused.value.extra == {"field": "options.expected_status"}
    assert "expected_status" in refused.value.message
    assert not Application.objects.exists() and not Event.objects.exists()


def test_it_accepts_a_health_check_whose_options_are_right():
    app = catalog.application_create(name="shop-api", package="shop-api", actor="alice",
                                     health_driver="http", health_options={"url": "http://{certname}:8080/health"})

    assert (app.health_driver, app.health_options["url"]) == ("http", "http://{certname}:8080/health")
