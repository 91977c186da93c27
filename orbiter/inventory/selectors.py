"""Reads about host sources: the list with each one's hosts and last sync, and finding one."""

from django.db.models import Count, Q, QuerySet

from orbiter.common.errors import NotFound
from orbiter.inventory.models import HostSource


def sources(*, environment_ids: list[int] | None = None) -> QuerySet:
    """The sources (by name) with `active_hosts` and `retired_hosts` counted; only those of
    `environment_ids` when given."""
    found = HostSource.objects.select_related("environment").annotate(
        active_hosts=Count("hosts", filter=Q(hosts__retired_at__isnull=True)),
        retired_hosts=Count("hosts", filter=Q(hosts__retired_at__isnull=False)),
    ).order_by("name")
    return found.filter(environment_id__in=environment_ids) if environment_ids is not None else found


def source_get(name: str, *, environment_ids: list[int] | None = None) -> HostSource:
    """One source by name, or NotFound naming those that exist (among those one may see)."""
    visible = sources(environment_ids=environment_ids)
    found = visible.filter(name=name).first()
    if found is None:
        known = ", ".join(visible.values_list("name", flat=True)) or "none yet"
        raise NotFound(f"host source {name!r} does not exist; known: {known}", field="source")
    return found
