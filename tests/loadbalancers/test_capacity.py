"""The pool capacity budget: members out of service for any reason count, a batch waits
rather than exceed `max_unavailable`, and two deployments sharing a pool never take more
than the budget between them."""

import pytest
from django.db import transaction

from orbiter.common.errors import ValidationError
from orbiter.loadbalancers import budget, capacity
from orbiter.loadbalancers.base import driver_for
from tests.loadbalancers.capacity_support import finish, launch, shared_pool

pytestmark = pytest.mark.django_db

CERT = [f"shop-api-cert-{i:02d}" for i in (1, 2, 3)]
TEST = [f"shop-api-test-{i:02d}" for i in (1, 2, 3)]


def test_a_batch_takes_only_what_the_budget_allows_and_says_why_the_rest_waits():
    pool, (cert, _) = shared_pool(max_unavailable="2")

    admitted, waiting = launch(cert, CERT)

    assert admitted == CERT[:2]
    assert waiting == ["waiting for capacity in pool shop-api-shared (2 of 6 out of service, max 2)"]


def test_two_deployments_sharing_a_pool_take_no_more_than_the_budget_between_them():
    pool, (cert, test) = shared_pool(max_unavailable="2")

    first, _ = launch(cert, CERT[:1])
    second, waiting = launch(test, TEST[:2])

    assert first == CERT[:1]
    assert second == TEST[:1]  # one slot was left; the other deployment holds the first
    assert waiting == ["waiting for capacity in pool shop-api-shared (2 of 6 out of service, max 2)"]
    # Nothing more for anyone until a host is back in service.
    assert launch(cert, CERT[1:2]) == ([], waiting)
    finish(cert, CERT[:1])
    assert launch(test, TEST[1:2]) == (TEST[1:2], [])


def test_members_already_down_on_the_load_balancer_count():
    pool, (cert, _) = shared_pool(max_unavailable="2", lb_options={"unhealthy_members": ["shop-api-test-03"]})
    driver_for(pool).disable("shop-api-test-02")  # drained by hand by someone

    admitted, waiting = launch(cert, CERT)

    assert admitted == []
    assert waiting == ["waiting for capacity in pool shop-api-shared (2 of 6 out of service, max 2)"]


def test_a_wanted_member_that_is_already_down_takes_no_extra_slot():
    pool, (cert, _) = shared_pool(max_unavailable="1")
    driver_for(pool).disable("shop-api-cert-01")

    admitted, waiting = launch(cert, CERT[:2])

    assert admitted == CERT[:1]  # it was out already: redeploying it costs nothing
    assert waiting == ["waiting for capacity in pool shop-api-shared (1 of 6 out of service, max 1)"]


def test_a_percentage_is_of_the_pool_rounded_down_but_at_least_one():
    pool, (cert, test) = shared_pool(max_unavailable="50%")
    assert launch(cert, CERT) == (CERT, [])
    assert launch(test, TEST)[0] == []
    assert budget.limit("10%", 6) == 1
    assert budget.limit("34%", 6) == 2


def test_without_a_budget_everything_is_admitted():
    pool, (cert, test) = shared_pool(max_unavailable="")
    assert launch(cert, CERT) == (CERT, [])
    assert launch(test, TEST) == (TEST, [])


def test_an_unreadable_load_balancer_admits_nothing_and_says_so():
    pool, (cert, _) = shared_pool(max_unavailable="2", lb_options={"fail_members": []})
    pool.driver = "haproxy"  # options missing: the driver cannot be built
    pool.save()

    admitted, waiting = launch(cert, CERT)

    assert admitted == []
    assert waiting[0].startswith("waiting for capacity in pool shop-api-shared: cannot read its load balancer")
    assert "option" in waiting[0]


def test_a_budget_saved_with_a_bad_value_admits_nothing_and_says_so():
    pool, (cert, _) = shared_pool()
    pool.max_unavailable = "0"  # past the model's validator (a plain save does not run it)
    pool.save()

    assert launch(cert, CERT) == ([], ["waiting for capacity in pool shop-api-shared: pool misconfigured: "
                                       "max_unavailable: '0' is not allowed; give a count of members (\"1\", "
                                       "\"2\"...) or a percentage of the pool (\"25%\"), at least 1 member; "
                                       "empty for no budget"])


def test_the_pool_form_admits_per_member():
    pool, _ = shared_pool(max_unavailable="1")
    with transaction.atomic():
        answer = capacity.admit({pool: CERT})
    assert answer.admitted == {pool: CERT[:1]}
    assert answer.usage[pool.pk].out == {"shop-api-cert-01": "admitted"}


@pytest.mark.parametrize("value", ["0", "0%", "101%", "-1", "1.5", "two", "25 %", " 1"])
def test_a_bad_max_unavailable_is_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as caught:
        budget.parse(value)
    assert caught.value.extra["field"] == "max_unavailable"
    assert caught.value.message.startswith(f"max_unavailable: {value!r} is not allowed; give a count")


@pytest.mark.parametrize("value, parsed", [("1", (1, False)), ("12", (12, False)), ("25%", (25, True)),
                                           ("100%", (100, True)), ("", None)])
def test_good_max_unavailable_values(value, parsed):
    assert budget.parse(value) == parsed
