"""What the server refuses reaches a script as an exit code and the reason on stderr."""

import pytest

from orbiter.deployments.models import Deployment

pytestmark = pytest.mark.usefixtures("tasks")  # the engine is not needed: nothing runs


def test_a_preflight_refusal_exits_3_with_the_reason_and_its_code(orbiter, tokens):
    result = orbiter("deploy", "shop-api", "9.9.9-1", "--env", "cert", token=tokens["alice"])

    assert result.code == 3
    assert result.err.startswith("error: ") and "9.9.9-1" in result.err
    assert "(code: unknown_artifact)" in result.err
    assert not Deployment.objects.exists()


def test_a_viewer_may_not_deploy_exit_3_with_the_message(orbiter, tokens):
    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", token=tokens["vera"])

    assert result.code == 3
    assert "vera" in result.err and "deploy" in result.err
    assert not Deployment.objects.exists()


def test_a_deployer_may_not_lock_an_environment_but_an_admin_may(orbiter, tokens):
    refused = orbiter("lock", "cert", "--reason", "incident 42", token=tokens["alice"])
    assert refused.code == 3
    assert refused.err.startswith("error: ") and "alice" in refused.err

    locked = orbiter("lock", "cert", "--reason", "incident 42", token=tokens["root"])
    assert (locked.code, locked.out) == (0, "cert locked by root: incident 42\n")
    blocked = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", token=tokens["alice"])
    assert blocked.code == 3 and "incident 42" in blocked.err and "(code: environment_locked)" in blocked.err

    assert orbiter("unlock", "cert", token=tokens["root"]).out == "cert unlocked\n"
    assert orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", token=tokens["alice"]).code == 0


def test_a_bad_strategy_value_is_a_usage_error_naming_the_flag(orbiter, tokens):
    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--batch-size", "lots",
                     token=tokens["alice"])

    assert result.code == 2
    assert result.err.startswith("error: --batch-size: ")
    assert not Deployment.objects.exists()


def test_a_bad_name_is_refused_before_asking_the_server(orbiter, tokens):
    result = orbiter("deploy", "Shop API", "1.1.0-1", "--env", "cert", token=tokens["alice"])

    assert result.code == 2
    assert "'Shop API' is not a valid name; allowed: lowercase letters, digits and '-'" in result.err


def test_production_needs_yes_when_there_is_no_terminal_to_ask(orbiter, tokens):
    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production", token=tokens["alice"])

    assert result.code == 2
    assert "--yes" in result.err
    assert not Deployment.objects.exists()


def test_plan_as_json_lists_the_batches(orbiter, tokens):
    import json

    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", "--json", token=tokens["vera"])

    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert [batch["hosts"] for batch in plan["batches"]] == [["shop-api-cert-01"], ["shop-api-cert-02"]]


def test_plan_for_people_shows_batches_and_eta(orbiter, tokens):
    result = orbiter("plan", "shop-api", "1.1.0-1", "--env", "cert", token=tokens["vera"])

    assert result.code == 0, result.err
    assert result.out.startswith("plan: shop-api 1.1.0-1 to cert, 2 host(s) in 2 batch(es)\n")
    assert "batch 2 of 2: 1 host(s)" in result.out and "ETA: " in result.out
