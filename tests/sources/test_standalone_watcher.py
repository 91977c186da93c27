"""Standalone mode (`orbiter standalone`, `orbiter demo`) has no separate scheduler: its
in-process runtime queues the periodic tasks beat would, so a watched repository's new
build is found without anyone running `orbiter repos poll`."""

import threading

import pytest

from orbiter.catalog.models import Artifact
from orbiter.core.runtime import periodic_loop
from orbiter.sources.services import repository_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_standalone_runtime_polls_watched_repositories_by_itself(tasks, repo, server, shop, settings):
    settings.ORBITER_REPO_TICK_SECONDS = 0.2
    repo.add("shop-api", "1.0.0")
    repo.index()
    repository_create(name="el9", base_url=server.url, actor="admin", poll_interval_s=5)

    stop = threading.Event()
    beat = threading.Thread(target=periodic_loop, args=(stop,), daemon=True)
    beat.start()
    try:
        tasks.run_until(lambda: Artifact.objects.filter(version="1.0.0").exists(), timeout=30)
    finally:
        stop.set()
        beat.join(5)

    assert list(Artifact.objects.values_list("version", flat=True)) == ["1.0.0"]
