"""A request naming an environment that does not exist is checked like any other: the role
first (nothing recorded for a caller who may deploy nowhere), and the refusal names only the
environments the caller may see."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orbiter.accounts.services import role_grant
from orbiter.audit.models import Event
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

TYPO = {"application": "shop-api", "environment": "prodution", "version": "1.1.0-1"}


@pytest.fixture
def cert_only(fleet, settings):
    """erin may view and deploy in cert only (no role anywhere else)."""
    settings.ORBITER_DEFAULT_ROLE = ""
    User.objects.create_user("erin")
    role_grant(role="deployer", user="erin", environment="cert", actor="root")
    client = APIClient()
    client.force_login(User.objects.get(username="erin"))
    return client


def test_a_viewer_naming_an_unknown_environment_is_refused_before_anything_is_recorded(fleet, client_for):
    events = Event.objects.count()

    refused = client_for("dave").post("/api/v1/deployments", TYPO, format="json")

    assert refused.status_code == 403
    assert error_of(refused)["message"] == "dave may not deploy in any environment"
    assert Event.objects.count() == events


def test_the_refusal_of_an_unknown_environment_names_only_environments_the_caller_may_see(cert_only):
    refused = cert_only.post("/api/v1/deployments", TYPO, format="json")

    assert refused.status_code == 409
    error = error_of(refused)
    assert error["code"] == "unknown_environment"
    assert "'prodution'" in error["message"] and "cert" in error["message"]
    assert "production" not in error["message"]
    recorded = Event.objects.get(verb="deployment.refused")
    assert "production" not in recorded.data["message"]


def test_the_plan_preview_of_an_unknown_environment_names_only_environments_the_caller_may_see(cert_only):
    refused = cert_only.post("/api/v1/plan", TYPO, format="json")

    assert refused.status_code == 409
    assert "cert" in error_of(refused)["message"] and "production" not in error_of(refused)["message"]


def test_a_caller_who_may_view_nothing_learns_nothing_from_the_plan_preview(fleet, settings, client_for):
    settings.ORBITER_DEFAULT_ROLE = ""
    User.objects.create_user("nobody")

    refused = client_for("nobody").post("/api/v1/plan", TYPO, format="json")

    assert refused.status_code == 403
    assert "production" not in error_of(refused)["message"]


def test_a_token_for_an_unknown_environment_is_refused_naming_only_environments_the_caller_may_see(cert_only):
    refused = cert_only.post("/api/v1/tokens", {"name": "ci", "environments": ["prodution"]}, format="json")

    assert refused.status_code == 400
    error = error_of(refused)
    assert error["field"] == "environments"
    assert "'prodution'" in error["message"] and "cert" in error["message"]
    assert "production" not in error["message"]
