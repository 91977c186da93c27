"""`orbiter metrics` and `orbiter metrics lead-time`."""

import json

import pytest
from django.core.management import CommandError

from tests.cli.conftest import orbiter
from tests.metrics.support import deploy, pipeline

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_prints_a_row_per_application_and_environment(tasks):
    pipeline(hosts=1)
    deploy(tasks, "1.0.0-1", "cert")

    result = orbiter("metrics", "--days", "7")

    lines = result.out.splitlines()
    assert lines[0].startswith("window: 7 days, since ")
    assert lines[1].split()[:4] == ["application", "env", "deploys", "per"]
    assert lines[2].split()[:4] == ["shop-api", "cert", "1", "0.14"]
    assert lines[2].split()[6] == "0%"
    assert [ln.split()[1] for ln in lines[2:]] == ["cert", "test", "production"]


def test_lead_time_shows_each_stage_and_json_is_the_api_shape(tasks):
    pipeline(hosts=1)
    deploy(tasks, "1.0.0-1", "cert")

    text = orbiter("metrics", "lead-time", "shop-api", "1.0.0-1")
    data = json.loads(orbiter("metrics", "lead-time", "shop-api", "1.0.0-1", "--json").out)

    lines = text.out.splitlines()
    assert lines[0].startswith("shop-api-1.0.0-1.noarch: found ")
    assert lines[1].split()[:3] == ["cert", "deployed", "after"]
    assert lines[2].split() == ["test", "not", "deployed"]
    assert lines[-1] == "lead time to production: not yet"
    assert data["production"] == "production" and data["lead_time_s"] is None


def test_it_refuses_unknown_names_and_bad_windows(db):
    assert orbiter("metrics", "--environment", "nope").err.startswith("error: environment: 'nope' is unknown")
    assert orbiter("metrics", "lead-time", "shop-api").err.startswith("error: lead-time needs APPLICATION and VERSION")
    with pytest.raises(CommandError, match="--days: '0' is not allowed; give whole days from 1 to 365"):
        orbiter("metrics", "--days", "0")
