"""The audit trail shows each caller what they may see: events of an environment they have no
role in stay hidden (a deployment's events included), and so do other people's API tokens."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from orbiter.catalog import services as catalog
from orbiter.deployments import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(fleet, cast, settings):
    """erin may view cert only; alice deployed to both environments and made a token, root
    locked production, and bob made a token of his own."""
    settings.ORBITER_DEFAULT_ROLE = ""
    User.objects.create_user("erin")
    role_grant(role="viewer", user="erin", environment="cert", actor="root")
    made = {env: services.deployment_create(application="shop-api", environment=env, version="1.1.0-1",
                                            actor="alice") for env in ("cert", "production")}
    catalog.environment_lock(environment="production", reason="quarter close", actor="root")
    token_create(user=cast["alice"], name="alice-jenkins", actor="alice")
    token_create(user=cast["bob"], name="bob-laptop", actor="bob")
    return made


def events(client: APIClient, **query) -> list[dict]:
    response = client.get("/api/v1/events", {"page_size": 500, **query})
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def mentions(rows: list[dict], word: str) -> list[dict]:
    return [r for r in rows if word in str(r)]


def test_a_deployments_events_are_hidden_from_a_user_who_may_not_see_the_deployment(trail, client_for):
    erin = client_for("erin")
    production = trail["production"].pk
    assert erin.get(f"/api/v1/deployments/{production}").status_code == 403

    assert events(erin, deployment=production) == []
    assert len(events(erin, deployment=trail["cert"].pk)) >= 2  # its request and its acceptance


def test_the_whole_trail_shows_a_user_only_the_environments_they_may_see(trail, client_for):
    seen = events(client_for("erin"))

    assert seen, "erin sees cert's events"
    assert mentions(seen, "production") == []
    assert [e for e in seen if e["deployment_id"] == trail["production"].pk] == []
    assert [e for e in seen if e["verb"] == "environment.lock"] == []
    assert {e["data"].get("environment") for e in seen if "environment" in e["data"]} <= {"cert"}


def test_token_events_are_shown_to_their_owner_and_to_admins_only(trail, client_for):
    def tokens(name: str) -> set[str]:
        return {e["data"]["name"] for e in events(client_for(name), verb="token.")}

    assert tokens("erin") == set()
    assert tokens("alice") == {"alice-jenkins"}
    assert tokens("bob") == {"bob-laptop"}
    assert tokens("admin") == tokens("root") == {"alice-jenkins", "bob-laptop"}
