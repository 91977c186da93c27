"""A node that leaves PuppetDB in the middle of a deployment stays until the deployment ends;
retired hosts are never deployed to."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orbiter.catalog import services as catalog
from orbiter.catalog.models import Application, Host
from orbiter.common.errors import PreflightRefused
from orbiter.deployments import services as deployments
from orbiter.deployments import states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.deployments.selectors import plan_preview
from orbiter.inventory.models import HostSource
from orbiter.inventory.sync import source_sync, sources_claim_due
from tests.inventory.support import node

pytestmark = pytest.mark.django_db


def status(deployment) -> str:
    return Deployment.objects.values_list("status", flat=True).get(pk=deployment.pk)


def started(deployment) -> bool:
    return HostDeployment.objects.filter(deployment=deployment, status=states.DONE).exists()


@pytest.fixture
def newer(fleet):
    shop = Application.objects.get(name="shop-api")
    return catalog.artifact_register(application=shop, nevra="shop-api-1.2.0-1.noarch", actor="setup")


@pytest.mark.django_db(transaction=True)  # the end signal is sent after the commit
def test_a_node_gone_during_a_deployment_stays_until_it_ends_then_is_retired(source, memory_nodes, tasks, newer):
    memory_nodes.set([node("web-01.example.test"), node("web-02.example.test")])
    source_sync(source, actor="alice")
    deployment = deployments.deployment_create(application="shop-api", environment="production",
                                               version="1.2.0-1", actor="dora",
                                               strategy={"pause_between_batches": "until-resumed"})
    tasks.run_until(lambda: started(deployment))
    assert status(deployment) in (states.RUNNING, states.PAUSED)
    memory_nodes.set([node("web-01.example.test")])

    diff = source_sync(source, actor="alice")

    assert (diff.retired, diff.retire_waiting) == ([], ["web-02.example.test"])
    assert Host.objects.get(certname="web-02.example.test").retired_at is None
    HostSource.objects.update(next_sync_at=timezone.now() + timedelta(hours=1))

    deployments.deployment_cancel(deployment_id=deployment.pk, actor="dora")
    tasks.run_until(lambda: status(deployment) == states.CANCELLED)

    # The end of the deployment made the source due now: the scheduler's next tick syncs it.
    assert sources_claim_due() == [source.pk]
    assert source_sync(source, actor="inventory").retired == ["web-02.example.test"]
    assert Host.objects.get(certname="web-02.example.test").retired_at is not None


def test_a_retired_host_is_not_deployed_to(source, memory_nodes, newer):
    memory_nodes.set([node("web-01.example.test"), node("web-02.example.test")])
    source_sync(source, actor="alice")
    memory_nodes.set([node("web-01.example.test")])
    source_sync(source, actor="alice")
    # Even given its application back by hand, a retired host is not a deployment's target.
    retired = Host.objects.get(certname="web-02.example.test")
    retired.applications.add(Host.objects.get(certname="web-01.example.test").applications.get())

    plan = plan_preview(application="shop-api", environment="production", version="1.2.0-1")

    hosts = [name for batch in plan.batches for name in batch.hosts]
    assert sorted(hosts) == ["manual-01.example.test", "web-01.example.test"]


def test_a_deployment_refuses_when_every_host_is_retired(fleet, source, memory_nodes):
    Host.objects.filter(certname="manual-01.example.test").update(retired_at=timezone.now())

    with pytest.raises(PreflightRefused) as refused:
        deployments.deployment_create(application="shop-api", environment="production", version="1.0.0-1",
                                      actor="dora")

    assert refused.value.code == "no_hosts"


def test_due_sources_are_claimed_once_and_moved_one_interval_on(source):
    HostSource.objects.update(next_sync_at=timezone.now() - timedelta(seconds=1))

    assert sources_claim_due() == [source.pk]
    assert sources_claim_due() == []
    assert HostSource.objects.get().next_sync_at > timezone.now() + timedelta(seconds=source.interval_s - 5)


def test_the_scheduler_syncs_each_due_enabled_source_on_a_worker(source, memory_nodes, tasks):
    from orbiter.inventory.tasks import sync_due_task

    memory_nodes.set([node("web-01.example.test")])
    HostSource.objects.update(next_sync_at=timezone.now() - timedelta(seconds=1))

    assert sync_due_task.run() == 1
    tasks.run_until(lambda: Host.objects.filter(certname="web-01.example.test").exists())
    assert HostSource.objects.get().last_success_at is not None

    HostSource.objects.update(enabled=False, next_sync_at=timezone.now() - timedelta(seconds=1))
    assert sync_due_task.run() == 0


def test_a_scheduled_sync_of_an_unreachable_puppetdb_records_the_error_and_raises_nothing(source, memory_nodes):
    from orbiter.inventory.tasks import sync_task

    memory_nodes.error = "https://puppetdb.example.test:8081/pdb/query/v4: connection refused"

    assert sync_task.run(source.pk) == {"error": memory_nodes.error}
    assert HostSource.objects.get().last_error == memory_nodes.error


@pytest.mark.django_db(transaction=True)  # the engine's signals are sent after the commit
def test_a_rollback_leaves_out_a_host_retired_since_the_deployment(source, memory_nodes, tasks, newer):
    memory_nodes.set([node("web-01.example.test"), node("web-02.example.test")])
    source_sync(source, actor="alice")
    deployment = deployments.deployment_create(application="shop-api", environment="production",
                                               version="1.2.0-1", actor="dora")
    tasks.run_until(lambda: status(deployment) == states.SUCCEEDED)
    memory_nodes.set([node("web-01.example.test")])
    assert source_sync(source, actor="alice").retired == ["web-02.example.test"]

    rollback = deployments.deployment_rollback(deployment_id=deployment.pk, actor="dora")
    tasks.run_until(lambda: status(rollback) == states.SUCCEEDED)

    rolled = set(HostDeployment.objects.filter(deployment=rollback).values_list("host__certname", flat=True))
    assert rolled == {"manual-01.example.test", "web-01.example.test"}
