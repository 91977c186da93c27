"""Thin Celery tasks: the scheduler claims due repositories, a worker polls each one."""

from celery import shared_task

from orbiter.sources.models import YumRepository
from orbiter.sources.services import repositories_claim_due, repository_poll


@shared_task(name="orbiter.sources.poll_due")
def poll_due_task() -> int:
    """Periodic (Celery beat): queue one poll per due repository, so a slow or broken
    repository delays no other."""
    due = repositories_claim_due()
    for repository_id in due:
        poll_task.delay(repository_id)
    return len(due)


@shared_task(name="orbiter.sources.poll")
def poll_task(repository_id: int) -> int:
    repository = YumRepository.objects.filter(pk=repository_id, enabled=True).first()
    if repository is None:
        return 0
    return len(repository_poll(repository=repository).registered)
