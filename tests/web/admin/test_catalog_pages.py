"""The catalog in Django's admin: every change is validated by the catalog services, refused
on the field it names with nothing written, and audited with the admin's username."""

import pytest

from orbiter.catalog import services as catalog
from orbiter.catalog.models import Application, Environment, FreezeWindow, Host
from orbiter.loadbalancers import services as lb
from tests.web.admin.support import (
    ADMIN,
    add_url,
    change_url,
    delete_url,
    events,
    field_errors,
    form_data,
    list_url,
)

APP_FIELDS = catalog.APPLICATION_FIELDS


@pytest.fixture
def app(admin_client):
    return catalog.application_create(name="shop-api", package="shop-api", actor="setup",
                                      rollout_defaults={"batch_size": 2})


@pytest.fixture
def cert(admin_client):
    return catalog.environment_create(name="cert", order=0, actor="setup")


def after_setup():
    return [e for e in events() if e.actor != "setup"]


def test_a_misspelt_rollout_setting_is_refused_on_its_field_and_nothing_is_written(admin_client, app):
    response = admin_client.post(change_url(app), form_data(app, APP_FIELDS, rollout_defaults={"retires": 3}))

    assert response.status_code == 200
    [message] = field_errors(response)["rollout_defaults"]
    assert "retires" in message and "allowed" in message
    assert Application.objects.get(pk=app.pk).rollout_defaults == {"batch_size": 2}
    assert after_setup() == []


def test_an_unknown_health_driver_is_refused_naming_the_known_ones(admin_client, app):
    response = admin_client.post(change_url(app), form_data(app, APP_FIELDS, health_driver="ping"))

    [message] = field_errors(response)["health_driver"]
    assert "'ping' is unknown" in message and "http" in message
    assert Application.objects.get(pk=app.pk).health_driver == "none"
    assert after_setup() == []


def test_a_valid_change_writes_exactly_one_event_with_the_admins_name(admin_client, app):
    response = admin_client.post(change_url(app), form_data(app, APP_FIELDS, rollout_defaults={"max_attempts": 4},
                                                            description="the shop"))

    assert response.status_code == 302
    assert Application.objects.get(pk=app.pk).rollout_defaults == {"max_attempts": 4}
    [event] = after_setup()
    assert (event.actor, event.verb, event.object_id) == (ADMIN, "application.update", str(app.pk))
    assert event.data == {"before": {"description": "", "rollout_defaults": {"batch_size": 2}},
                          "after": {"description": "the shop", "rollout_defaults": {"max_attempts": 4}}}


def test_adding_an_application_goes_through_the_service(admin_client):
    data = {"name": "billing", "package": "billing", "converge_driver": "simulated", "health_driver": "none",
            "rollout_defaults": "{}", "converge_options": "{}", "health_options": "{}"}

    response = admin_client.post(add_url(Application), data)

    assert response.status_code == 302
    [event] = events()
    assert (event.actor, event.verb, event.object_id) == (ADMIN, "application.create",
                                                          str(Application.objects.get(name="billing").pk))


def test_deleting_an_application_writes_an_event(admin_client, app):
    response = admin_client.post(delete_url(app), {"post": "yes"})

    assert response.status_code == 302
    assert not Application.objects.exists()
    [event] = after_setup()
    assert (event.actor, event.verb, event.object_id) == (ADMIN, "application.delete", str(app.pk))
    assert event.data["before"]["package"] == "shop-api"


def test_an_environment_change_is_validated_and_audited(admin_client, cert):
    fields = catalog.ENVIRONMENT_FIELDS
    refused = admin_client.post(change_url(cert), form_data(cert, fields, puppet_environment="Prod; rm"))
    assert "puppet_environment" in field_errors(refused)
    assert after_setup() == []

    response = admin_client.post(change_url(cert), form_data(cert, fields, requires_approval=True, min_approvals=2))

    assert response.status_code == 302
    [event] = after_setup()
    assert (event.actor, event.verb) == (ADMIN, "environment.update")
    assert event.data["after"] == {"requires_approval": True, "min_approvals": 2}
    assert Environment.objects.get(pk=cert.pk).min_approvals == 2


def test_a_host_with_a_bad_certname_is_refused_and_a_good_one_audited(admin_client, cert, app):
    data = {"certname": "Web 01!", "environment": cert.pk, "applications": [app.pk], "labels": "{}",
            "healthy": "on"}
    refused = admin_client.post(add_url(Host), data)
    assert "certname" in field_errors(refused)
    assert not Host.objects.exists() and after_setup() == []

    response = admin_client.post(add_url(Host), {**data, "certname": "web-01.example.test"})

    assert response.status_code == 302
    host = Host.objects.get()
    assert list(host.applications.all()) == [app]
    [event] = after_setup()
    assert (event.actor, event.verb, event.object_id) == (ADMIN, "host.create", str(host.pk))


def test_delete_selected_writes_one_event_per_host(admin_client, cert):
    hosts = [catalog.host_create(certname=f"web-{i}.example.test", environment=cert, applications=[],
                                 actor="setup") for i in (1, 2)]

    response = admin_client.post(list_url(Host), {"action": "delete_selected", "post": "yes",
                                                  "_selected_action": [h.pk for h in hosts]})

    assert response.status_code == 302
    assert not Host.objects.exists()
    # By id as a number: as text, host 100 would sort before host 99.
    assert sorted(((e.actor, e.verb, e.object_id) for e in after_setup()), key=lambda row: int(row[2])) == [
        (ADMIN, "host.delete", str(h.pk)) for h in hosts]


def test_a_freeze_window_ending_before_it_starts_is_refused_and_nothing_is_written(admin_client, cert):
    data = {"environment": cert.pk, "kind": "once", "reason": "sales", "starts_at_0": "2026-12-24",
            "starts_at_1": "18:00:00", "ends_at_0": "2026-12-24", "ends_at_1": "08:00:00", "weekdays": "[]",
            "timezone": "UTC"}

    refused = admin_client.post(add_url(FreezeWindow), data)

    assert "ends_at" in field_errors(refused)
    assert not FreezeWindow.objects.exists() and after_setup() == []
    created = admin_client.post(add_url(FreezeWindow), {**data, "ends_at_0": "2026-12-26"})
    assert created.status_code == 302
    [event] = after_setup()
    assert (event.actor, event.verb) == (ADMIN, "freeze.create")


def test_builds_pins_and_enrollment_tokens_cannot_be_changed_in_the_admin(admin_client, app):
    artifact = catalog.artifact_register(application=app, nevra="shop-api-1.0.0-1.noarch", actor="setup")

    assert admin_client.post(delete_url(artifact), {"post": "yes"}).status_code == 403
    assert admin_client.get(add_url(Application)).status_code == 200
    assert admin_client.get("/admin/catalog/artifact/add/").status_code == 403
    assert admin_client.get("/admin/catalog/pin/add/").status_code == 403
    assert app.artifacts.count() == 1


def test_moving_a_pool_member_to_another_environment_is_refused_on_the_form(admin_client, cert, app):
    prod = catalog.environment_create(name="production", order=1, actor="setup")
    host = catalog.host_create(certname="web-01.example.test", environment=cert, applications=[app], actor="setup")
    pool = lb.pool_create(name="shop-cert", application=app, environment=cert, actor="setup")
    lb.pool_member_create(pool=pool, host=host, member="web-01", actor="setup")

    response = admin_client.post(change_url(host), form_data(host, catalog.HOST_FIELDS, environment=prod))

    assert response.status_code == 200
    [message] = field_errors(response)["environment"]
    assert "shop-cert" in message
    assert Host.objects.get(pk=host.pk).environment == cert and after_setup() == []
