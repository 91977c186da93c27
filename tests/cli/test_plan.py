"""`orbiter plan`: what a deployment would do, without doing it."""

import json

import pytest
from django.core.management.base import CommandError

from orbiter.deployments.models import Deployment
from tests.cli.conftest import orbiter
from tests.cli.support import host, request
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db


def test_plan_names_every_host_in_numbered_batches_and_the_eta():
    build_fleet(hosts=5)

    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", "--batch-size", "2")

    assert result.code == 0, result.err
    assert "plan: shop-api 1.1.0-1 to cert, 5 host(s) in 3 batch(es)" in result.out
    for number in (1, 2, 3):
        assert f"batch {number} of 3" in result.out
    for n in range(1, 6):
        assert f"host {host(n)}" in result.out
    # No finished deployment to learn from: 75 s a host (the default step times), 3 batches.
    assert "ETA: about 3 min 45 s" in result.out


def test_plan_lists_the_load_balancer_actions():
    build_fleet(hosts=2)

    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert")

    assert f"load balancer: drain shop-api-cert/{host(1)} (simulated), then enable after health check" in result.out
    assert f"load balancer: drain shop-api-cert/{host(2)} (simulated), then enable after health check" in result.out


def test_plan_writes_nothing():
    build_fleet(hosts=2)

    orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert")

    assert not Deployment.objects.exists()


def test_plan_json_is_the_plan_as_data():
    build_fleet(hosts=3)

    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", "--canary", "--batch-size", "2", "--json")

    plan = json.loads(result.out)
    assert plan["version"] == "1.1.0-1"
    assert [batch["hosts"] for batch in plan["batches"]] == [[host(1)], [host(2), host(3)]]
    assert plan["strategy"]["canary"] is True
    assert plan["eta_s"] == 150.0
    assert plan["needs_approval"] is False


def test_only_the_strategy_flags_given_override_the_application_defaults():
    build_fleet(hosts=4, defaults={"batch_size": "2", "max_attempts": 5})

    plan = json.loads(orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", "--failure-budget", "25%",
                              "--json").out)

    assert plan["strategy"]["batch_size"] == "2"
    assert plan["strategy"]["max_attempts"] == 5
    assert plan["strategy"]["failure_budget"] == "25%"
    assert plan["strategy"]["canary"] is False


def test_plan_says_when_the_environment_needs_approval():
    build_fleet(hosts=1, environment="production", requires_approval=True)

    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "production")

    assert "needs approval: production requires someone other than the requester to approve" in result.out


def test_plan_with_queue_says_which_deployment_it_would_wait_for(tasks):
    build_fleet(hosts=2)
    ahead = request("1.0.0-1")

    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", "--queue")

    assert result.code == 0, result.err
    assert f"queued behind #{ahead.pk} (queued)" in result.out


def test_plan_of_an_unknown_version_is_refused_with_exit_2_and_the_reason():
    build_fleet(hosts=2)

    result = orbiter("plan", "shop-api", "9.9.9-1", "--env", "cert")

    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("error: unknown version '9.9.9-1' of shop-api")
    assert "(code: unknown_artifact)" in result.err


def test_a_bad_strategy_value_is_refused_naming_the_flag():
    build_fleet(hosts=2)

    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", "--batch-size", "lots")

    assert result.code == 2
    assert result.err.startswith("error: --batch-size: 'lots' is not allowed")


def test_an_out_of_range_number_is_refused_naming_the_flag():
    build_fleet(hosts=2)

    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", "--max-attempts", "50")

    assert result.code == 2
    assert result.err.startswith("error: --max-attempts: 50 is not allowed")


def test_a_malformed_flag_value_is_refused_by_the_parser_naming_the_flag():
    build_fleet(hosts=2)

    # From the command line argparse prints this with the usage and exits 2.
    with pytest.raises(CommandError, match="argument --max-attempts: 'three' is not allowed; give a whole number"):
        orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", "--max-attempts", "three")


def test_the_environment_is_required():
    with pytest.raises(CommandError, match="--env"):
        orbiter("plan", "shop-api", "1.1.0-1")
