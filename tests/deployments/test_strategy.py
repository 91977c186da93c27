"""Strategy: what a user may ask for, and the batches it turns into."""

import pytest

from orbiter.common.errors import ValidationError
from orbiter.deployments.strategy import Strategy, make_plan, resolve_count


def test_it_uses_safe_defaults_when_nothing_is_given():
    strategy = Strategy.parse(None)

    assert strategy == Strategy()
    assert (strategy.batch_size, strategy.canary, strategy.failure_budget) == ("1", False, "0")


def test_what_the_user_gives_overrides_the_application_defaults():
    strategy = Strategy.parse(
        {"batch_size": "25%"}, defaults={"batch_size": "2", "max_attempts": 5}
    )

    assert strategy.batch_size == "25%"
    assert strategy.max_attempts == 5


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"batch_size": 3}, {"batch_size": "3"}),
        ({"batch_size": " 50% "}, {"batch_size": "50%"}),
        ({"batch_size": "100%"}, {"batch_size": "100%"}),
        ({"failure_budget": "0"}, {"failure_budget": "0"}),
        ({"failure_budget": "10%"}, {"failure_budget": "10%"}),
        (
            {"canary": "yes", "canary_pause": "off", "auto_rollback": 1},
            {"canary": True, "canary_pause": False, "auto_rollback": True},
        ),
        ({"pause_between_batches": "until-resumed"}, {"pause_between_batches": "until-resumed"}),
        ({"pause_between_batches": 30}, {"pause_between_batches": "30"}),
        ({"max_attempts": "20"}, {"max_attempts": 20}),
        (
            {"retry_backoff_s": "0", "converge_timeout_s": 0.5},
            {"retry_backoff_s": 0.0, "converge_timeout_s": 0.5},
        ),
    ],
)
def test_it_accepts_and_normalises_valid_settings(data, expected):
    strategy = Strategy.parse(data).as_dict()

    assert {key: strategy[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("batch_size", "three", "percentage"),
        ("batch_size", "-1", "percentage"),
        ("batch_size", "150%", "percentage"),
        ("batch_size", "0", "at least 1"),
        ("batch_size", "0%", "at least 1"),
        ("failure_budget", "101%", "percentage"),
        ("failure_budget", "some", "percentage"),
        ("pause_between_batches", "soon", "until-resumed"),
        ("pause_between_batches", "-5", "until-resumed"),
        ("canary", "maybe", "true or false"),
        ("canary_pause", "2", "true or false"),
        ("auto_rollback", None, "true or false"),
        ("max_attempts", 0, "from 1 to 20"),
        ("max_attempts", 21, "from 1 to 20"),
        ("max_attempts", "many", "from 1 to 20"),
        ("retry_backoff_s", -1, "from 0 to 86400"),
        ("drain_timeout_s", "nan", "from 0 to 86400"),
        ("converge_timeout_s", "inf", "from 0 to 86400"),
        ("verify_timeout_s", 86401, "from 0 to 86400"),
        ("enable_timeout_s", "soon", "from 0 to 86400"),
    ],
)
def test_it_refuses_a_bad_setting_naming_the_field_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValidationError) as refused:
        Strategy.parse({field: value})

    assert refused.value.message.startswith(f"{field}:")
    assert allowed in refused.value.message
    assert refused.value.extra == {"field": field}


def test_it_refuses_a_bad_application_default_too():
    with pytest.raises(ValidationError) as refused:
        Strategy.parse({}, defaults={"batch_size": "lots"})

    assert refused.value.extra == {"field": "batch_size"}


def test_it_refuses_an_unknown_setting_and_lists_the_known_ones():
    with pytest.raises(ValidationError) as refused:
        Strategy.parse({"batchsize": "2", "parallel": True})

    message = refused.value.message
    assert "batchsize" in message and "parallel" in message
    assert "allowed: batch_size, canary" in message
    assert refused.value.extra == {"field": "strategy"}


@pytest.mark.parametrize(
    ("spec", "total", "minimum", "expected"),
    [
        ("3", 10, 1, 3),
        ("3", 2, 1, 3),  # a count is what the user said; the plan copes with fewer hosts
        ("25%", 10, 1, 3),  # batches round up
        ("25%", 10, 0, 2),  # budgets round down
        ("1%", 10, 1, 1),
        ("10%", 5, 0, 0),
        ("0%", 10, 1, 1),  # never below the minimum
        ("100%", 7, 1, 7),
        ("50%", 0, 1, 1),
        ("0", 4, 0, 0),
    ],
)
def test_it_resolves_counts_and_percentages(spec, total, minimum, expected):
    assert resolve_count(spec, total, minimum=minimum) == expected


def test_the_failure_budget_is_a_share_of_all_hosts_rounded_down():
    assert Strategy.parse({"failure_budget": "25%"}).budget(10) == 2
    assert Strategy.parse({"failure_budget": "2"}).budget(10) == 2
    assert Strategy.parse({}).budget(10) == 0


def _plan(hosts: int, **strategy) -> list[list[int]]:
    return make_plan(list(range(1, hosts + 1)), Strategy.parse(strategy))


def test_it_splits_hosts_into_batches_of_the_given_size_in_order():
    assert _plan(4, batch_size="2") == [[1, 2], [3, 4]]
    assert _plan(5, batch_size="2") == [[1, 2], [3, 4], [5]]
    assert _plan(3) == [[1], [2], [3]]


def test_a_percentage_batch_is_of_all_hosts_rounded_up():
    assert _plan(10, batch_size="25%") == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
    assert _plan(3, batch_size="10%") == [[1], [2], [3]]


def test_a_canary_goes_alone_in_the_first_batch():
    assert _plan(5, batch_size="2", canary=True) == [[1], [2, 3], [4, 5]]
    assert _plan(10, batch_size="50%", canary=True) == [[1], [2, 3, 4, 5, 6], [7, 8, 9, 10]]
    assert _plan(1, batch_size="3", canary=True) == [[1]]


def test_a_batch_larger_than_the_fleet_takes_every_host_at_once():
    assert _plan(3, batch_size="10") == [[1, 2, 3]]


def test_no_hosts_make_an_empty_plan():
    assert _plan(0, batch_size="2") == []
    assert _plan(0, canary=True) == []
