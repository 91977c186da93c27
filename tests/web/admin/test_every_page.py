"""Every page of Django's admin either writes through Orbiter's services or writes nothing."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.core import checks

from orbiter.accounts.tokens import token_create
from orbiter.catalog.agents import enrollment_token_create
from orbiter.common.admin import ReadOnlyAdmin, ServiceAdmin
from tests.conftest import build_fleet
from tests.web.admin.support import ADMIN, list_url
from tests.web.support import deploy

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.mark.parametrize("model, page", REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_every_admin_page_writes_through_the_services_or_not_at_all(model, page):
    assert isinstance(page, ServiceAdmin | ReadOnlyAdmin), f"{model._meta.label}: {type(page).__name__}"
    assert page.__doc__, f"{model._meta.label}: say on the page where its writes go"
    for inline in page.inlines:
        rows = inline(model, admin.site)
        assert not any([rows.has_add_permission(None, None), rows.has_change_permission(None),
                        rows.has_delete_permission(None)]), f"{inline.__name__} writes rows"


@pytest.mark.parametrize("model, page", REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_every_admin_list_and_add_page_opens(admin_client, model, page):
    build_fleet(hosts=1)

    assert admin_client.get(list_url(model)).status_code == 200
    added = admin_client.get(f"{list_url(model)}add/")
    assert added.status_code == (200 if isinstance(page, ServiceAdmin) else 403)
    first = model._default_manager.first()
    if first is not None:
        assert admin_client.get(f"{list_url(model)}{first.pk}/change/").status_code == 200


RECORDS = ["audit.Event", "catalog.Artifact", "catalog.Pin", "catalog.EnrollmentToken", "accounts.ApiToken",
           "deployments.Deployment", "deployments.HostDeployment", "converge.SimulatedConvergeRun",
           "loadbalancers.SimulatedMemberState"]


@pytest.fixture
def deployed(admin_client, tasks):
    """A fleet after one deployment, an API token and an enrollment token: a row in each record."""
    build_fleet(hosts=1)
    deploy(tasks)
    token_create(user=User.objects.get(username=ADMIN), name="ci", actor="setup")
    enrollment_token_create(certname="shop-api-cert-01", actor="setup", ttl_hours=1)
    return admin_client


@pytest.mark.parametrize("label", RECORDS)
def test_a_read_only_page_refuses_to_delete_one_or_many(deployed, label):
    model = apps.get_model(label)
    assert isinstance(admin.site._registry[model], ReadOnlyAdmin)
    first = model._default_manager.first()
    before = model._default_manager.count()

    assert deployed.post(f"{list_url(model)}{first.pk}/delete/", {"post": "yes"}).status_code == 403
    deployed.post(list_url(model), {"action": "delete_selected", "post": "yes", "_selected_action": [first.pk]})
    assert deployed.post(f"{list_url(model)}{first.pk}/change/", {}).status_code == 403
    assert model._default_manager.count() == before


def test_the_admin_passes_djangos_system_checks():
    assert checks.run_checks(tags=[checks.Tags.admin]) == []
