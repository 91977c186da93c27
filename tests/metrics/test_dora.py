"""DORA aggregates per application and environment, from deployments the engine ran."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.common.errors import NotFound, ValidationError
from orbiter.deployments import services, states
from orbiter.metrics.selectors import dora
from tests.deployments.support import run_until_status, set_converge_options
from tests.metrics.support import deploy, pipeline

pytestmark = pytest.mark.django_db(transaction=True)


def group(report: dict, environment: str) -> dict:
    [found] = [g for g in report["groups"] if g["environment"] == environment]
    return found


@pytest.fixture
def history(tasks):
    """In cert: 1.0.0 succeeds, 1.1.0 fails, 1.2.0 succeeds (restores), then is rolled back."""
    pipeline(hosts=2)
    deploy(tasks, "1.0.0-1")
    set_converge_options(fail_hosts=["shop-api-cert-01"])
    failed = deploy(tasks, "1.1.0-1")
    set_converge_options()
    restored = deploy(tasks, "1.2.0-1")
    services.deployment_rollback(deployment=restored, actor="alice")
    run_until_status(tasks, restored, states.ROLLED_BACK)
    assert failed.status == states.FAILED
    return failed, restored


def test_it_counts_deployments_failures_and_restores(history):
    failed, restored = history

    cert = group(dora(application="shop-api"), "cert")

    assert cert["deployments"] == 1  # 1.0.0; 1.2.0 was rolled back
    assert (cert["finished"], cert["failures"]) == (3, 2)
    assert cert["change_failure_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert cert["deployment_frequency_per_day"] == pytest.approx(1 / 30, abs=1e-3)
    assert cert["time_to_restore_s"]["samples"] == 2 and cert["unrestored"] == 0
    assert cert["time_to_restore_s"]["median"] > 0
    assert cert["lead_time_s"]["samples"] == 1 and cert["lead_time_s"]["median"] >= 0


def test_quiet_environments_show_zeros_not_gaps(history):
    report = dora()

    assert [g["environment"] for g in report["groups"]] == ["cert", "test", "production"]
    production = group(report, "production")
    assert (production["deployments"], production["failures"], production["change_failure_rate"]) == (0, 0, None)
    assert production["lead_time_s"] == {"median": None, "p90": None, "samples": 0}


def test_a_failure_nothing_has_fixed_yet_counts_as_unrestored(tasks):
    pipeline(hosts=1)
    set_converge_options(fail_hosts=["shop-api-cert-01"])
    deploy(tasks, "1.0.0-1")

    cert = group(dora(environment="cert"), "cert")

    assert (cert["failures"], cert["unrestored"], cert["change_failure_rate"]) == (1, 1, 1.0)
    assert cert["time_to_restore_s"]["samples"] == 0


def test_lead_time_takes_the_median_and_the_90th_percentile(tasks):
    from orbiter.catalog.models import Artifact

    pipeline(hosts=1)
    for hours, version in zip((1, 2, 3, 10), ("1.0.0", "1.1.0", "1.2.0", "1.3.0"), strict=True):
        Artifact.objects.filter(version=version).update(found_at=timezone.now() - timedelta(hours=hours))
        deploy(tasks, f"{version}-1", "production")

    lead = group(dora(environment="production"), "production")["lead_time_s"]

    assert lead["samples"] == 4
    assert 2.5 * 3600 <= lead["median"] < 2.5 * 3600 + 60
    assert 10 * 3600 <= lead["p90"] < 10 * 3600 + 60


def test_deployments_before_the_window_are_left_out(history):
    later = timezone.now() + timedelta(days=8)

    cert = group(dora(environment="cert", days=7, now=later), "cert")

    assert (cert["deployments"], cert["finished"], cert["failures"]) == (0, 0, 0)


def test_bad_arguments_are_refused_naming_the_field(db):
    with pytest.raises(ValidationError, match="days: 0 is not allowed; give whole days from 1 to 365"):
        dora(days=0)
    with pytest.raises(NotFound, match="application: 'nope' is unknown"):
        dora(application="nope")
