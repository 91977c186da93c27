"""CI registers builds with POST /api/v1/artifacts and a scoped token; doing it twice is harmless."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog.models import Artifact
from tests.api.conftest import error_of
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db

BUILD = {"application": "shop-api", "nevra": "shop-api-1.2.0-1.noarch",
         "build_url": "https://jenkins.example.test/job/shop-api/42/"}


def test_ci_registers_a_build_once_and_a_repeat_answers_200_with_the_same_artifact(fleet, token_client):
    ci = token_client("alice", applications=["shop-api"], environments=["cert"])

    first = ci.post("/api/v1/artifacts", BUILD, format="json")
    again = ci.post("/api/v1/artifacts", BUILD, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["version"] == "1.2.0-1" and first.json()["build_url"] == BUILD["build_url"]
    assert Artifact.objects.filter(version="1.2.0").count() == 1
    assert Event.objects.filter(verb="artifact.register", actor="alice").count() == 1
    listed = ci.get("/api/v1/artifacts?application=shop-api").json()["results"]
    assert [a["version"] for a in listed][0] == "1.2.0-1"


def test_a_token_for_another_application_cannot_register_builds_of_this_one(fleet, token_client):
    build_fleet(hosts=1, environment="cert", application="billing")

    refused = token_client("alice", applications=["billing"]).post("/api/v1/artifacts", BUILD, format="json")

    assert refused.status_code == 403
    assert not Artifact.objects.filter(version="1.2.0").exists()


def test_a_viewer_cannot_register_builds(fleet, client_for):
    assert client_for("dave").post("/api/v1/artifacts", BUILD, format="json").status_code == 403


def test_a_nevra_of_another_package_is_refused_naming_the_field(fleet, client_for):
    refused = client_for("alice").post("/api/v1/artifacts", {**BUILD, "nevra": "billing-1.0-1.noarch"},
                                       format="json")

    assert refused.status_code == 400
    assert error_of(refused)["field"] == "nevra"
    assert "does not belong to shop-api" in error_of(refused)["message"]


def test_an_unknown_application_is_404(fleet, client_for):
    refused = client_for("alice").post("/api/v1/artifacts", {**BUILD, "application": "nope"}, format="json")

    assert refused.status_code == 404
    assert error_of(refused) == {"code": "not_found", "field": "application",
                                 "message": "application 'nope' does not exist"}
