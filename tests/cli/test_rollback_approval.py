"""`orbiter rollback` where deployments need approval: the rollback waits for it, unless
--override-approval gives the reason to start it at once (recorded)."""

import pytest

from orbiter.audit.models import Event
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment
from tests.cli.conftest import orbiter
from tests.cli.support import request, run_until_status
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def upgraded(tasks) -> Deployment:
    build_fleet(hosts=2, requires_approval=True)
    for version in ("1.0.0-1", "1.1.0-1"):
        deployment = request(version)
        services.deployment_approve(deployment_id=deployment.pk, actor="bob")
        run_until_status(tasks, deployment.pk, states.SUCCEEDED)
    return deployment


def test_a_rollback_where_deployments_need_approval_waits_for_it(upgraded):
    result = orbiter("rollback", str(upgraded.pk), "--as", "alice", "--reason", "error rate up")

    assert result.code == 0, result.err
    child = Deployment.objects.get(rollback_of=upgraded)
    assert result.out.splitlines()[0].startswith(f"deployment #{child.pk} awaiting_approval: rolls back")


def test_override_approval_starts_it_and_records_why(upgraded):
    result = orbiter("rollback", str(upgraded.pk), "--as", "ada", "--override-approval", "checkout down")

    assert result.code == 0, result.err
    child = Deployment.objects.get(rollback_of=upgraded)
    assert child.status == states.QUEUED
    assert Event.objects.get(verb="deployment.approval_override").data["reason"] == "checkout down"
