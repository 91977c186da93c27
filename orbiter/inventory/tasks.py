"""Thin Celery tasks: the scheduler claims due sources, a worker syncs each one."""

import logging

from celery import shared_task

from orbiter.inventory.models import HostSource
from orbiter.inventory.puppetdb import PuppetDBError
from orbiter.inventory.sync import source_sync, sources_claim_due

log = logging.getLogger("orbiter.inventory")


@shared_task(name="orbiter.inventory.sync_due")
def sync_due_task() -> int:
    """Periodic (Celery beat): queue one sync per due source, so a slow PuppetDB delays no other."""
    due = sources_claim_due()
    for source_id in due:
        sync_task.delay(source_id)
    return len(due)


@shared_task(name="orbiter.inventory.sync")
def sync_task(source_id: int) -> dict:
    if not HostSource.objects.filter(pk=source_id, enabled=True).exists():
        return {}
    try:
        return source_sync(source_id, actor="inventory").counts
    except PuppetDBError as error:  # recorded on the source; the next interval tries again
        return {"error": error.message}
