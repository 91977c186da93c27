"""Every error, ours or the framework's, comes in one shape: {"error": {code, message, field}}."""

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def test_missing_fields_name_the_first_field_and_list_all(fleet, client_for):
    response = client_for("alice").post("/api/v1/deployments", {"application": "shop-api"}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["field"]) == ("invalid", "environment")
    assert error["message"] == "environment: This field is required."
    assert set(error["fields"]) == {"environment", "version"}


def test_a_bad_strategy_names_the_strategy_field(fleet, client_for):
    response = client_for("alice").post("/api/v1/deployments", {
        "application": "shop-api", "environment": "cert", "version": "1.1.0-1",
        "strategy": {"batch_size": "lots"}}, format="json")

    assert response.status_code == 400
    assert error_of(response)["field"] == "batch_size"
    assert "give a number of hosts" in error_of(response)["message"]


def test_a_preflight_refusal_is_409_with_its_code(fleet, client_for):
    response = client_for("alice").post("/api/v1/deployments", {
        "application": "shop-api", "environment": "cert", "version": "0.9.0-1"}, format="json")

    assert response.status_code == 409
    assert error_of(response)["code"] == "unknown_artifact"
    assert "Newest known: 1.1.0-1, 1.0.0-1" in error_of(response)["message"]


def test_without_credentials_it_is_401(fleet):
    response = APIClient().get("/api/v1/deployments")

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"


def test_an_unknown_deployment_and_an_unknown_url_are_404(fleet, client_for):
    assert error_of(client_for("alice").get("/api/v1/deployments/999"))["message"] == "deployment #999 does not exist"
    unknown = client_for("alice").get("/api/v1/deplyoments")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"


def test_a_wrong_method_is_405(fleet, client_for):
    response = client_for("alice").delete("/api/v1/deployments")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_malformed_json_is_400(fleet, client_for):
    response = client_for("alice").post("/api/v1/deployments", "{nope", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid"


def test_an_illegal_transition_is_409_and_changes_nothing(fleet, client_for):
    created = client_for("alice").post("/api/v1/deployments", {
        "application": "shop-api", "environment": "cert", "version": "1.1.0-1"}, format="json").json()

    response = client_for("alice").post(f"/api/v1/deployments/{created['id']}/resume")

    assert response.status_code == 409
    assert error_of(response)["code"] == "illegal_transition"
    assert client_for("alice").get(f"/api/v1/deployments/{created['id']}").json()["status"] == "queued"
