"""Hostile input to the API is a 400 in the one error shape naming the field, never a 500,
and writes nothing: a NUL character in a query parameter, a JSON string or a JSON key, and
JSON nested deeper than 32 levels. Found: deeply nested JSON was a 500 (RecursionError),
NUL reached PostgreSQL (a 500). Run on PostgreSQL (./lab/test)."""

import json

import pytest

from orbiter.audit.models import Event
from tests.api.conftest import error_of

DEPLOY = {"application": "shop-api", "environment": "cert", "version": "1.1.0-1"}
POSTS = ["/api/v1/deployments", "/api/v1/plan", "/api/v1/tokens", "/api/v1/artifacts",
         "/api/v1/environments/cert/lock", "/api/v1/environments/cert/freezes"]


def nested(depth: int):
    value = "x"
    for _ in range(depth):
        value = [value]
    return value


def post_raw(client, url: str, text: str):
    return client.post(url, data=text, content_type="application/json")


@pytest.mark.parametrize("url, parameter", [
    ("/api/v1/deployments", "application"), ("/api/v1/deployments", "requested_by"),
    ("/api/v1/events", "q"), ("/api/v1/events", "actor"), ("/api/v1/artifacts", "application"),
    ("/api/v1/environments/cert/hosts", "certname"),
])
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(fleet, client_for, url, parameter):
    response = client_for("admin").get(url, {parameter: "x\x00y"})

    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == parameter and "NUL" in error["message"]


@pytest.mark.parametrize("body, field", [
    ({**DEPLOY, "comment": "shipped\x00"}, "comment"),
    ({**DEPLOY, "strategy": {"batch_size": 1, "bad\x00key": 1}}, "strategy.bad\\x00key"),
    ({**DEPLOY, "strategy": {"batch_size": ["1", "2\x00"]}}, "strategy.batch_size[1]"),
])
def test_a_nul_in_a_json_body_is_a_400_naming_the_field_and_nothing_is_written(fleet, client_for, body, field):
    from orbiter.deployments.models import Deployment

    before = Event.objects.count()
    response = client_for("admin").post("/api/v1/deployments", body, format="json")

    assert response.status_code == 400, response.content[:300]
    error = error_of(response)
    assert error["field"] == field and "NUL" in error["message"]
    assert not Deployment.objects.exists() and Event.objects.count() == before


@pytest.mark.parametrize("url", POSTS)
def test_json_nested_far_too_deep_is_a_400_not_a_500(fleet, client_for, url):
    before = Event.objects.count()
    text = '{"application": "shop-api", "strategy": ' + "[" * 100_000 + "]" * 100_000 + "}"

    response = post_raw(client_for("admin"), url, text)

    assert response.status_code == 400, response.content[:300]
    error = error_of(response)
    assert error["field"] == "strategy" and "nested deeper than 32 levels" in error["message"]
    assert Event.objects.count() == before


def test_a_deeply_nested_body_that_is_not_an_object_names_the_body(fleet, client_for):
    response = post_raw(client_for("admin"), "/api/v1/deployments", json.dumps(nested(40)))

    assert response.status_code == 400
    assert error_of(response)["field"] == "body"


def test_nesting_within_the_bound_reaches_the_serializer(fleet, client_for):
    response = client_for("admin").post("/api/v1/deployments", {**DEPLOY, "strategy": nested(20)}, format="json")

    assert response.status_code == 400
    assert error_of(response)["field"] == "strategy"  # the serializer's own refusal: not a dict


def test_brackets_inside_strings_do_not_count_as_nesting(fleet, client_for):
    response = client_for("admin").post("/api/v1/deployments", {**DEPLOY, "comment": "[" * 200}, format="json")

    assert response.status_code == 201, response.content[:300]


def test_not_a_number_is_not_json(fleet, client_for):
    response = post_raw(client_for("admin"), "/api/v1/deployments", '{"application": NaN}')

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid"
