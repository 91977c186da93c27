"""The simulated driver passes the load-balancer contract (its state lives in the database).

It has no list of members: any name is one. The contract's unknown member is modelled with
its `fail_members` option, the members it refuses permanently. It cannot observe
connections, so the contract's connection tests are skipped.
"""

import pytest

from orbiter.loadbalancers.base import registry
from tests.loadbalancers.contract import LoadBalancerContract

pytestmark = pytest.mark.django_db


class TestSimulatedContract(LoadBalancerContract):
    @pytest.fixture
    def members(self):
        return ["shop-api-cert-01", "shop-api-cert-02", "shop-api-cert-03"]

    @pytest.fixture
    def driver(self):
        return registry.get("simulated")("shop-api-cert", {"fail_members": [self.unknown_member]})
