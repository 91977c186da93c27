"""A token limited to some applications acts for those applications only: what acts on a whole
environment (its lock, its freezes, its approval rule) needs a token not limited that way."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Environment, FreezeWindow
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

WINDOW = {"kind": "once", "reason": "Black Friday", "starts_at": "2030-11-29T00:00:00Z",
          "ends_at": "2030-11-30T00:00:00Z"}


def _window() -> FreezeWindow:
    return catalog.freeze_create(environment="production", actor="root", kind="once", reason="release week",
                                 starts_at=timezone.now() + timedelta(days=1),
                                 ends_at=timezone.now() + timedelta(days=2))


ENVIRONMENT_WIDE = [
    ("patch", "/api/v1/environments/production", {"requires_approval": False}),
    ("post", "/api/v1/environments/production/lock", {"reason": "mine now"}),
    ("post", "/api/v1/environments/production/freezes", WINDOW),
    ("patch", "/api/v1/freezes/{window}", {"reason": "shorter"}),
    ("delete", "/api/v1/freezes/{window}", None),
]


@pytest.mark.parametrize("method, url, body", ENVIRONMENT_WIDE, ids=["protect", "lock", "freeze-create",
                                                                    "freeze-update", "freeze-delete"])
def test_an_admins_token_limited_to_one_application_cannot_change_the_whole_environment(
        fleet, token_client, method, url, body):
    window = _window()
    ci = token_client("admin", applications=["shop-api"], max_role="admin")
    events = Event.objects.count()

    refused = getattr(ci, method)(url.format(window=window.pk), body, format="json")

    assert refused.status_code == 403
    message = error_of(refused)["message"]
    assert "API token 'admin-ci' is limited to application shop-api" in message
    assert "not limited to an application" in message
    production = Environment.objects.get(name="production")
    assert (production.requires_approval, production.is_locked) == (True, False)
    assert list(FreezeWindow.objects.values_list("reason", flat=True)) == ["release week"]
    assert Event.objects.count() == events


def test_an_admins_token_not_limited_to_an_application_locks_the_environment(fleet, token_client):
    ci = token_client("admin", environments=["production"], max_role="admin")

    locked = ci.post("/api/v1/environments/production/lock", {"reason": "database migration"}, format="json")

    assert locked.status_code == 200
    assert Environment.objects.get(name="production").is_locked


def test_a_token_limited_to_one_application_still_reads_the_environment_and_deploys_its_application(
        fleet, token_client):
    ci = token_client("admin", applications=["shop-api"], max_role="admin")

    assert ci.get("/api/v1/environments/production").status_code == 200
    assert ci.get("/api/v1/environments/production/freezes").status_code == 200
    deployed = ci.post("/api/v1/deployments", {"application": "shop-api", "environment": "cert",
                                               "version": "1.1.0-1"}, format="json")
    assert deployed.status_code == 201, deployed.json()
