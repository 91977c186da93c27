"""The simulated fleet's ledger: a converge request delivered twice (a redelivered task
after a worker died) is performed once, and the second delivery answers what the first did."""

import pytest

from orbiter.converge.drivers import simulated
from orbiter.converge.models import SimulatedConvergeRun

pytestmark = pytest.mark.django_db


def requests(*certnames):
    return [{"request_id": f"d1-h{i}-r1-a1", "certname": c, "application": "shop-api", "version": "1.1.0-1"}
            for i, c in enumerate(certnames)]


def test_a_redelivered_request_is_answered_from_the_ledger_not_performed_again():
    first = simulated.perform(requests("web-1", "web-2"), {})
    assert sorted((r.request_id, r.ok) for r in first) == [("d1-h0-r1-a1", True), ("d1-h1-r1-a1", True)]

    # Redelivered with one new request, under options that would now fail everything.
    again = simulated.perform(requests("web-1", "web-2", "web-3"), {"permanent_rate": 1})
    answers = {r.request_id: (r.ok, r.permanent) for r in again}
    assert answers == {"d1-h0-r1-a1": (True, False), "d1-h1-r1-a1": (True, False), "d1-h2-r1-a1": (False, True)}
    assert SimulatedConvergeRun.objects.count() == 3
    assert sorted(SimulatedConvergeRun.objects.values_list("certname", flat=True)) == ["web-1", "web-2", "web-3"]


def test_a_host_listed_in_fail_hosts_fails_permanently_and_the_others_converge():
    answers = {r.request_id: (r.ok, r.permanent, r.message) for r in
               simulated.perform(requests("web-1", "web-2"), {"fail_hosts": ["web-2"]})}
    assert answers["d1-h0-r1-a1"] == (True, False, "converged")
    assert answers["d1-h1-r1-a1"][:2] == (False, True)
    assert "fail_hosts" in answers["d1-h1-r1-a1"][2]
