"""Operations on a deployment that a later one has overtaken are refused: its hosts moved on."""

import pytest

from orbiter.catalog.models import Application
from orbiter.catalog.services import artifact_register
from orbiter.common.errors import OrbiterError
from orbiter.deployments import services, states
from orbiter.deployments.models import HostDeployment
from tests.conftest import build_fleet
from tests.deployments.support import (
    deploy,
    host,
    pins,
    request,
    run_until_status,
    set_converge_options,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_refuses_to_roll_back_a_deployment_a_later_one_overtook(tasks):
    build_fleet(hosts=2)
    artifact_register(application=Application.objects.get(name="shop-api"), nevra="shop-api-1.2.0-1.noarch",
                      actor="admin")
    deploy(tasks, "1.0.0-1")
    older = deploy(tasks, "1.1.0-1")
    deploy(tasks, "1.2.0-1")

    with pytest.raises(OrbiterError, match=f"cannot roll back #{older.pk}: deployment #{older.pk + 1} .*started after it"):
        services.deployment_rollback(deployment_id=older.pk, actor="bob")

    assert set(pins().values()) == {"1.2.0-1"}


def test_it_refuses_to_retry_a_failed_deployment_a_later_one_overtook(tasks):
    build_fleet(hosts=2)
    set_converge_options(fail_hosts=[host(2)])
    failed = deploy(tasks, "1.0.0-1", strategy={"failure_budget": "0"})
    assert failed.status == states.FAILED
    set_converge_options(fail_hosts=[])
    deploy(tasks, "1.1.0-1")

    with pytest.raises(OrbiterError, match="started after it"):
        services.deployment_retry(deployment_id=failed.pk, actor="alice")


def test_rolling_back_between_batches_skips_the_hosts_whose_turn_never_came(tasks):
    build_fleet(hosts=3)
    deploy(tasks, "1.0.0-1", strategy={"batch_size": "3"})
    paused = run_until_status(
        tasks, request("1.1.0-1", strategy={"batch_size": "1", "pause_between_batches": "until-resumed"}),
        states.PAUSED,
    )

    services.deployment_rollback(deployment_id=paused.pk, actor="alice")
    assert run_until_status(tasks, paused, states.COMPLETED).status == states.ROLLED_BACK

    left = dict(HostDeployment.objects.filter(deployment=paused).values_list("host__certname", "status"))
    assert left == {host(1): "done", host(2): "skipped", host(3): "skipped"}
    assert set(pins().values()) == {"1.0.0-1"}
