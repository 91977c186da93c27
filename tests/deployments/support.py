"""Helpers the deployment tests share: run deployments with the in-memory task queue and
read what a user would see (statuses, host timelines, pins, load-balancer state)."""

import time

from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Pin
from orbiter.converge.models import SimulatedConvergeRun
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.loadbalancers.models import SimulatedMemberState

APP, ENV = "shop-api", "cert"


def host(n: int, *, application: str = APP, environment: str = ENV) -> str:
    """The certname build_fleet gives the n-th host (1-based)."""
    return f"{application}-{environment}-{n:02d}"


def reload(deployment: Deployment) -> Deployment:
    return Deployment.objects.get(pk=deployment.pk)


def status(deployment: Deployment) -> str:
    return Deployment.objects.values_list("status", flat=True).get(pk=deployment.pk)


def request(version: str, *, actor: str = "alice", **options) -> Deployment:
    return services.deployment_create(
        application=APP, environment=ENV, version=version, actor=actor, **options
    )


def run_until_status(tasks, deployment: Deployment, wanted, *, timeout: float = 10.0) -> Deployment:
    wanted = {wanted} if isinstance(wanted, str) else set(wanted)
    tasks.run_until(lambda: status(deployment) in wanted, timeout=timeout)
    return reload(deployment)


def run_to_end(tasks, deployment: Deployment, *, timeout: float = 10.0) -> Deployment:
    return run_until_status(tasks, deployment, states.COMPLETED, timeout=timeout)


def deploy(tasks, version: str, *, timeout: float = 10.0, **options) -> Deployment:
    """Request a deployment and run it to its end."""
    return run_to_end(tasks, request(version, **options), timeout=timeout)


def run_for(tasks, seconds: float) -> None:
    """Keep the task queue (and the sweeper) running for a while: used only to show that
    nothing happens, never to wait for something to happen."""
    end = time.monotonic() + seconds
    tasks.run_until(lambda: time.monotonic() >= end, timeout=seconds + 5)


def hosts_by_status(deployment: Deployment) -> dict[str, str]:
    return dict(
        HostDeployment.objects.filter(deployment=deployment).values_list("host__certname", "status")
    )


def host_deployment(deployment: Deployment, certname: str) -> HostDeployment:
    return HostDeployment.objects.get(deployment=deployment, host__certname=certname)


def host_events(deployment: Deployment) -> dict[str, list[Event]]:
    """Each host's transition Events, oldest first."""
    names = dict(
        HostDeployment.objects.filter(deployment=deployment).values_list("pk", "host__certname")
    )
    timeline: dict[str, list[Event]] = {name: [] for name in names.values()}
    for event in Event.objects.filter(
        object_type="hostdeployment", object_id__in=[str(pk) for pk in names]
    ):
        timeline[names[int(event.object_id)]].append(event)
    return timeline


def host_path(deployment: Deployment) -> dict[str, list[str]]:
    """Each host's statuses in the order its transition Events recorded them (reports that
    change no status, such as `host.left_out`, are not steps)."""
    moves = {name: [e for e in events if e.before != e.after] for name, events in host_events(deployment).items()}
    return {
        name: ([events[0].before] + [e.after for e in events]) if events else []
        for name, events in moves.items()
    }


def deployment_events(deployment: Deployment, verb: str | None = None) -> list[Event]:
    events = Event.objects.filter(object_type="deployment", object_id=str(deployment.pk))
    return list(events.filter(verb=verb) if verb else events)


def pins() -> dict[str, str]:
    return {
        pin.host.certname: pin.artifact.label
        for pin in Pin.objects.select_related("host", "artifact")
    }


def lb_admin(certname: str) -> str:
    """The simulated load balancer's admin state of a member ("up" if never touched)."""
    row = SimulatedMemberState.objects.filter(member=certname).first()
    return row.admin if row else "up"


def ledger(certname: str) -> list[SimulatedConvergeRun]:
    """The converges the simulated fleet performed on a host, oldest first."""
    return list(SimulatedConvergeRun.objects.filter(certname=certname).order_by("id"))


def set_converge_options(**options) -> None:
    """Change how the simulated fleet behaves from now on (the application's converge options)."""
    app = Application.objects.get(name=APP)
    app.converge_options = {"duration_s": 0, **options}
    app.save(update_fields=["converge_options"])
