"""The demo: shop-api 1.0.0-1 then 1.1.0-1 through cert, test and production on a
simulated fleet, by the real engine and tasks, printing progress as it goes."""

import secrets
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from rich.console import Console
from rich.table import Table

from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment

ENVIRONMENTS = ("cert", "test", "production")
VERSIONS = ("1.0.0-1", "1.1.0-1")
DEMO_USER = "demo"


def demo_user_ensure() -> str | None:
    """In standalone mode only: the `demo` user, admin in every environment, so that the web
    UI of `orbiter standalone --demo` can be signed in to at once. Returns its password when
    the user is created now (a random one, shown once), None when it already existed."""
    from orbiter.accounts.roles import ADMIN
    from orbiter.accounts.services import role_grant

    if not settings.STANDALONE:
        raise RuntimeError("the demo user exists only in standalone mode (ORBITER_MODE=standalone)")
    users = get_user_model()
    if users.objects.filter(username=DEMO_USER).exists():
        return None
    password = secrets.token_urlsafe(12)
    users.objects.create_user(DEMO_USER, password=password)
    role_grant(role=ADMIN, user=DEMO_USER, actor="standalone")
    return password


def run_demo(console: Console, *, application: str = "shop-api", timeout_s: float = 300) -> bool:
    finished = []
    started = time.monotonic()
    for version in VERSIONS:
        for environment in ENVIRONMENTS:
            deployment = services.deployment_create(
                application=application, environment=environment, version=version, actor="demo",
                comment="orbiter demo",
            )
            console.print(f"[bold]#{deployment.pk}[/] {application} {version} → {environment}: {deployment.message}")
            deployment = _follow(console, deployment.pk, environment, timeout_s)
            finished.append(deployment)
            if deployment.status != states.SUCCEEDED:
                console.print(f"[red]#{deployment.pk} {deployment.status}: {deployment.message}[/]")
                _summary(console, finished)
                console.print(f"demo failed: deployment #{deployment.pk} {deployment.status}", soft_wrap=True)
                return False
    _summary(console, finished)
    hosts = HostDeployment.objects.filter(deployment=finished[-1]).count()
    # One unwrapped line, last: scripts look for "succeeded" on it.
    console.print(
        f"demo succeeded: {application} {VERSIONS[-1]} runs on all {hosts} production host(s) "
        f"after {len(finished)} deployments in {time.monotonic() - started:.1f}s",
        soft_wrap=True,
    )
    return True


def _follow(console: Console, deployment_id: int, environment: str, timeout_s: float) -> Deployment:
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        deployment = Deployment.objects.get(pk=deployment_id)
        counts = dict(
            HostDeployment.objects.filter(deployment_id=deployment_id).values_list("status").annotate(n=Count("id"))
        )
        inflight = sum(counts.get(s, 0) for s in states.IN_FLIGHT)
        line = (
            f"  [{environment}] {deployment.status}: batch {deployment.current_batch + 1}/{len(deployment.plan)}, "
            f"{counts.get(states.DONE, 0)} done, {inflight} in flight, {counts.get(states.H_FAILED, 0)} failed"
            f" — {deployment.message}"
        )
        if line != last:
            console.print(line, highlight=False)
            last = line
        if deployment.status in states.COMPLETED:
            return deployment
        if time.monotonic() > deadline:
            raise TimeoutError(f"deployment #{deployment_id} still {deployment.status} after {timeout_s}s")
        time.sleep(0.1)


def _summary(console: Console, deployments: list[Deployment]) -> None:
    table = Table(title="Deployments")
    for column in ("#", "version", "environment", "status", "hosts", "batches", "retried steps", "seconds"):
        table.add_column(column)
    for d in deployments:
        hosts = HostDeployment.objects.filter(deployment=d)
        retried = sum(1 for hd in hosts if hd.attempt > 1 or hd.round > 1 or hd.error)
        took = (d.finished_at - d.started_at).total_seconds() if d.finished_at and d.started_at else 0
        table.add_row(str(d.pk), d.artifact.label, d.environment.name, d.status, str(hosts.count()),
                      str(len(d.plan)), str(retried), f"{took:.1f}")
    console.print(table)
