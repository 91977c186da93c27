"""GET /metrics: the DORA figures in Prometheus text format, optionally behind a bearer token."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orbiter.sources.services import repository_create
from tests.metrics.support import deploy, pipeline

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_show_deployments_lead_time_and_artifacts(client, tasks):
    pipeline(hosts=1)
    deploy(tasks, "1.0.0-1", "cert")
    repository_create(name="el9", base_url="https://repo.example/el9/", actor="admin")

    samples = scrape(client)

    cert = (("application", "shop-api"), ("environment", "cert"))
    assert samples[("orbiter_dora_deployments", cert)] == 1
    assert samples[("orbiter_dora_change_failure_rate", cert)] == 0
    assert samples[("orbiter_dora_lead_time_seconds", (*cert, ("quantile", "0.5")))] >= 0
    assert samples[("orbiter_dora_deployments", (("application", "shop-api"), ("environment", "production")))] == 0
    assert ("orbiter_dora_change_failure_rate", (("application", "shop-api"), ("environment", "production"))) \
        not in samples  # nothing finished there: unknown, not 0
    assert samples[("orbiter_artifacts_found_total", (("application", "shop-api"),))] == 4
    assert samples[("orbiter_yum_repository_up", (("repository", "el9"),))] == 1
    assert samples[("orbiter_dora_window_days", ())] == 30


def test_with_a_token_configured_metrics_need_it(client, settings, db):
    settings.ORBITER_METRICS_TOKEN = "s3cret-token"

    refused = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")

    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert b"Authorization: Bearer" in refused.content
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token")[("orbiter_dora_window_days", ())] == 30
