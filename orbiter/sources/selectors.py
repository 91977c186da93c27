"""Reads about artifact sources."""

from orbiter.common.errors import NotFound
from orbiter.sources.models import YumRepository


def repository_get(name: str) -> YumRepository:
    repo = YumRepository.objects.filter(name=name).first()
    if repo is None:
        known = ", ".join(YumRepository.objects.values_list("name", flat=True)) or "none yet"
        raise NotFound(f"repository {name!r} is unknown; known: {known}", field="name")
    return repo


def repositories() -> list[YumRepository]:
    return list(YumRepository.objects.prefetch_related("applications"))
