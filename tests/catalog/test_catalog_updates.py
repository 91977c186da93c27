"""Changing and deleting applications, environments and hosts: validated like a creation,
refused naming the field with nothing written, one Event per change naming who made it."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Application, Environment, Host
from orbiter.common.errors import Conflict, ValidationError
from orbiter.loadbalancers import services as lb

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    return catalog.application_create(name="shop-api", package="shop-api", actor="setup",
                                      rollout_defaults={"batch_size": 2})


@pytest.fixture
def cert():
    return catalog.environment_create(name="cert", order=0, actor="setup")


def changes():
    return list(Event.objects.exclude(actor="setup"))


@pytest.mark.parametrize("fields, field", [
    ({"rollout_defaults": {"retires": 3}}, "strategy"),
    ({"rollout_defaults": {"batch_size": "lots"}}, "batch_size"),
    ({"rollout_defaults": ["batch_size"]}, "rollout_defaults"),
    ({"health_driver": "ping"}, "health_driver"),
    ({"converge_driver": "ansible"}, "converge_driver"),
    ({"name": "Shop API"}, "name"),
    ({"puppet_class": "shop-api"}, "puppet_class"),
    ({"retires": 3}, "retires"),
])
def test_it_refuses_a_bad_application_change_naming_the_field_and_writes_nothing(app, fields, field):
    with pytest.raises(ValidationError) as refused:
        catalog.application_update(application=app, actor="alice", **fields)

    assert refused.value.extra["field"] == field
    assert Application.objects.get(pk=app.pk).rollout_defaults == {"batch_size": 2}
    assert changes() == []


def test_an_application_change_is_one_event_with_before_and_after(app):
    catalog.application_update(application=app, actor="alice", rollout_defaults={"batch_size": 2, "max_attempts": 3},
                               description="the shop")

    [event] = changes()
    assert (event.actor, event.verb) == ("alice", "application.update")
    assert event.data == {"before": {"description": "", "rollout_defaults": {"batch_size": 2}},
                          "after": {"description": "the shop",
                                    "rollout_defaults": {"batch_size": 2, "max_attempts": 3}}}


def test_a_change_that_changes_nothing_writes_no_event(app):
    catalog.application_update(application=app, actor="alice", package="shop-api")

    assert changes() == []


def test_a_name_already_taken_is_refused(app):
    catalog.application_create(name="billing", package="billing", actor="setup")

    with pytest.raises(ValidationError) as refused:
        catalog.application_update(application=app, actor="alice", name="billing")

    assert refused.value.extra == {"field": "name"}


def test_an_application_with_builds_cannot_be_deleted_and_nothing_is_written(app):
    catalog.artifact_register(application=app, nevra="shop-api-1.0.0-1.noarch", actor="setup")

    with pytest.raises(Conflict) as refused:
        catalog.application_delete(application=app, actor="alice")

    assert "still used by" in refused.value.message
    assert Application.objects.filter(pk=app.pk).exists() and changes() == []


def test_an_environment_change_and_delete_are_audited(cert):
    catalog.environment_update(environment=cert, actor="alice", requires_approval=True, min_approvals=2)
    catalog.environment_delete(environment=cert, actor="bob")

    assert [(e.actor, e.verb) for e in changes()] == [("alice", "environment.update"), ("bob", "environment.delete")]
    assert not Environment.objects.exists()


@pytest.mark.parametrize("fields, field", [
    ({"min_approvals": 0}, "min_approvals"),
    ({"order": -1}, "order"),
    ({"puppet_environment": "prod\nclasses: {}"}, "puppet_environment"),
])
def test_it_refuses_a_bad_environment_change(cert, fields, field):
    with pytest.raises(ValidationError) as refused:
        catalog.environment_update(environment=cert, actor="alice", **fields)

    assert refused.value.extra == {"field": field}
    assert changes() == []


def test_a_host_in_a_pool_cannot_move_to_another_environment(app, cert):
    prod = catalog.environment_create(name="production", order=1, actor="setup")
    host = catalog.host_create(certname="web-01.example.test", environment=cert, applications=[app], actor="setup")
    pool = lb.pool_create(name="shop-cert", application=app, environment=cert, actor="setup")
    lb.pool_member_create(pool=pool, host=host, member="web-01", actor="setup")

    with pytest.raises(ValidationError) as refused:
        catalog.host_update(host=host, actor="alice", environment=prod)

    assert refused.value.extra == {"field": "environment"} and "shop-cert" in refused.value.message
    assert Host.objects.get(pk=host.pk).environment == cert and changes() == []


def test_a_host_change_records_its_applications_by_name(app, cert):
    host = catalog.host_create(certname="web-01.example.test", environment=cert, applications=[], actor="setup")

    catalog.host_update(host=host, actor="alice", applications=[app], labels={"rack": "b2"})

    [event] = changes()
    assert event.data == {"before": {"applications": [], "labels": {}},
                          "after": {"applications": ["shop-api"], "labels": {"rack": "b2"}}}
    assert list(host.applications.all()) == [app]
