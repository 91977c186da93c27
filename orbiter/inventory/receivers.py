"""The end of a deployment makes due now the sources whose hosts waited for it to retire."""

from django.db.models import Q
from django.utils import timezone


def on_deployment_finished(sender, deployment, **kwargs) -> None:
    """One UPDATE, quick: the scheduler's next tick syncs the sources (and retires the hosts)."""
    from orbiter.inventory.models import HostSource

    HostSource.objects.filter(
        Q(last_summary__retire_waiting__gt=0), enabled=True,
        hosts__host_deployments__deployment_id=deployment.pk,
    ).update(next_sync_at=timezone.now())


def connect() -> None:
    from orbiter.deployments.signals import deployment_finished

    deployment_finished.connect(on_deployment_finished, dispatch_uid="inventory.deployment_finished")
