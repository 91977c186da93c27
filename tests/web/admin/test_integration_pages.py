"""Load-balancer pools, notification channels and yum repositories in Django's admin: a bad
option is refused on its field with nothing written; a change is one Event with the admin's
username; secrets never reach an Event."""

import pytest

from orbiter.catalog import services as catalog
from orbiter.loadbalancers import services as lb
from orbiter.loadbalancers.models import Pool, PoolMember
from orbiter.notifications.models import Channel
from orbiter.notifications.services import channel_create
from orbiter.sources.models import YumRepository
from orbiter.sources.services import repository_create
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


@pytest.fixture
def fleet(admin_client):
    app = catalog.application_create(name="shop-api", package="shop-api", actor="setup")
    cert = catalog.environment_create(name="cert", order=0, actor="setup")
    prod = catalog.environment_create(name="production", order=1, actor="setup")
    web = catalog.host_create(certname="web-01.example.test", environment=cert, applications=[app], actor="setup")
    other = catalog.host_create(certname="web-09.example.test", environment=prod, applications=[app], actor="setup")
    pool = lb.pool_create(name="shop-cert", application=app, environment=cert, driver="simulated", actor="setup")
    return {"app": app, "cert": cert, "web": web, "other": other, "pool": pool}


def mine():
    return [e for e in events() if e.actor == ADMIN]


def test_a_bad_haproxy_option_is_refused_on_the_options_field(admin_client, fleet):
    pool = fleet["pool"]
    data = form_data(pool, lb.POOL_FIELDS, driver="haproxy", options={"backend": "shop", "sokcet": "/run/x"})
    data.update({"members-TOTAL_FORMS": 0, "members-INITIAL_FORMS": 0})

    response = admin_client.post(change_url(pool), data)

    assert response.status_code == 200
    [message] = field_errors(response)["options"]
    assert "sokcet" in message
    assert Pool.objects.get(pk=pool.pk).driver == "simulated" and mine() == []


def test_a_pool_change_is_one_event_and_its_password_is_not_recorded(admin_client, fleet):
    pool = fleet["pool"]
    data = form_data(pool, lb.POOL_FIELDS, driver="f5", max_unavailable="25%",
                     options={"url": "https://f5.example.test", "username": "orbiter", "password": "hunter2-long"})
    data.update({"members-TOTAL_FORMS": 0, "members-INITIAL_FORMS": 0})  # the read-only list of members

    response = admin_client.post(change_url(pool), data)

    assert response.status_code == 302, field_errors(response)
    [event] = mine()
    assert (event.verb, event.object_id) == ("pool.update", str(pool.pk))
    assert event.data["after"]["options"]["password"] == "(secret)"
    assert "hunter2" not in str(event.data)
    assert event.data["after"]["max_unavailable"] == "25%"


def test_a_member_from_another_environment_is_refused(admin_client, fleet):
    response = admin_client.post(add_url(PoolMember), {"pool": fleet["pool"].pk, "host": fleet["other"].pk,
                                                       "member": "web-09"})

    assert "host" in field_errors(response)
    assert not PoolMember.objects.exists() and mine() == []


def test_adding_and_removing_a_member_is_audited(admin_client, fleet):
    response = admin_client.post(add_url(PoolMember), {"pool": fleet["pool"].pk, "host": fleet["web"].pk,
                                                       "member": "web-01"})
    assert response.status_code == 302
    member = PoolMember.objects.get()

    admin_client.post(delete_url(member), {"post": "yes"})

    assert [(e.verb, e.data) for e in mine()] == [
        ("pool_member.create", {"pool": "shop-cert", "host": "web-01.example.test", "member": "web-01"}),
        ("pool_member.delete", {"pool": "shop-cert", "host": "web-01.example.test", "member": "web-01"}),
    ]
    assert not PoolMember.objects.exists()


def test_deleting_pools_in_bulk_writes_an_event_each(admin_client, fleet):
    second = lb.pool_create(name="shop-cert-b", application=fleet["app"], environment=fleet["cert"],
                            driver="simulated", actor="setup")

    admin_client.post(list_url(Pool), {"action": "delete_selected", "post": "yes",
                                       "_selected_action": [fleet["pool"].pk, second.pk]})

    assert not Pool.objects.exists()
    assert sorted(e.verb for e in mine()) == ["pool.delete", "pool.delete"]


def test_a_webhook_without_an_http_url_is_refused_and_a_valid_change_audited(admin_client, fleet):
    channel = channel_create(name="ops", kind="webhook", url="https://hooks.example.test/x", secret="env:HOOK",
                             actor="setup")
    fields = ["name", "kind", "url", "secret", "recipients", "events", "enabled", "applications", "environments"]

    refused = admin_client.post(change_url(channel), form_data(channel, fields, secret="hunter2"))
    assert "secret" in field_errors(refused) and mine() == []

    response = admin_client.post(change_url(channel), form_data(channel, fields, environments=[fleet["cert"]]))

    assert response.status_code == 302
    [event] = mine()
    assert (event.verb, event.data) == ("notification_channel.update",
                                        {"before": {"environments": []}, "after": {"environments": ["cert"]}})
    assert list(Channel.objects.get().environments.all()) == [fleet["cert"]]


def test_a_repository_url_with_credentials_is_refused_and_a_new_interval_audited(admin_client, fleet):
    repo = repository_create(name="builds", base_url="https://repo.example.test/el9/", actor="setup")
    fields = ["name", "base_url", "applications", "poll_interval_s", "enabled"]

    refused = admin_client.post(change_url(repo), form_data(repo, fields, base_url="https://u:p@repo.example.test/"))
    assert "base_url" in field_errors(refused) and mine() == []

    response = admin_client.post(change_url(repo), form_data(repo, fields, poll_interval_s=300))

    assert response.status_code == 302
    [event] = mine()
    assert (event.verb, event.data) == ("repository.update",
                                        {"before": {"poll_interval_s": 60}, "after": {"poll_interval_s": 300}})
    assert YumRepository.objects.get().poll_interval_s == 300
