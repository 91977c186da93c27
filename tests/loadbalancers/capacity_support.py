"""A pool shared by two environments' hosts, and two deployments' worth of callers that
admit members and then drain them, as the engine will: admit, then move the admitted hosts
to `draining`, in one transaction."""

from django.db import transaction

from orbiter.catalog import services as catalog
from orbiter.catalog.models import Artifact
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.deployments.transitions import transition_hosts
from orbiter.loadbalancers import capacity
from orbiter.loadbalancers.models import Pool, PoolMember


def shared_pool(*, per_environment: int = 3, max_unavailable: str = "2", lb_options: dict | None = None):
    """shop-api on `cert` and `test`, every host a member of one pool. Returns (pool, deployments)."""
    app = catalog.application_create(name="shop-api", package="shop-api", actor="admin")
    artifact = catalog.artifact_register(application=app, nevra="shop-api-1.1.0-1.noarch", actor="admin")
    pool = None
    deployments = []
    for order, name in enumerate(("cert", "test")):
        env = catalog.environment_create(name=name, order=order, actor="admin")
        pool = pool or Pool.objects.create(name="shop-api-shared", application=app, environment=env,
                                           driver="simulated", options=lb_options or {},
                                           max_unavailable=max_unavailable)
        deployment = Deployment.objects.create(application=app, environment=env, artifact=artifact,
                                               status="running", requested_by_name="alice")
        for i in range(1, per_environment + 1):
            host = catalog.host_create(certname=f"shop-api-{name}-{i:02d}", environment=env, applications=[app],
                                       actor="admin")
            PoolMember.objects.create(pool=pool, host=host, member=host.certname)
            HostDeployment.objects.create(deployment=deployment, host=host, batch=0,
                                          target_artifact=Artifact.objects.get(pk=artifact.pk))
        deployments.append(deployment)
    return pool, deployments


def launch(deployment: Deployment, certnames: list[str]) -> tuple[list[str], list[str]]:
    """One engine's batch launch: admit what the budget allows, move it to draining, commit.
    Returns (admitted certnames, waiting reasons)."""
    with transaction.atomic():
        wanted = list(HostDeployment.objects.filter(deployment=deployment, host__certname__in=certnames)
                      .select_related("host").order_by("host__certname"))
        admitted, waiting = capacity.admit_hosts(deployment.application, [hd.host_id for hd in wanted])
        go = [hd for hd in wanted if hd.host_id in admitted]
        transition_hosts(go, "drain", actor="engine")
        return [hd.host.certname for hd in go], waiting


def finish(deployment: Deployment, certnames: list[str]) -> None:
    """Those hosts are back in service: their deployment's work on them is done."""
    hds = list(HostDeployment.objects.filter(deployment=deployment, host__certname__in=certnames))
    for event in ("converge", "verify", "enable", "finish"):
        transition_hosts(hds, event, actor="engine")
