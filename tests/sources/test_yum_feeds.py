"""Which applications a repository feeds: by package name, or an explicit list."""

import pytest

from orbiter.catalog import services as catalog
from orbiter.catalog.models import Artifact
from orbiter.sources.services import repository_create, repository_poll

pytestmark = pytest.mark.django_db


def test_an_explicit_list_feeds_only_those_applications_until_one_is_added(repo, server, shop):
    billing = catalog.application_create(name="billing", package="billing", actor="admin")
    repo.add("shop-api", "1.0.0")
    repo.add("billing", "3.0.0")
    repo.index()
    yum = repository_create(name="el9", base_url=server.url, actor="admin", applications=["shop-api"])

    repository_poll(repository=yum)
    assert list(Artifact.objects.values_list("name", flat=True)) == ["shop-api"]

    yum.applications.add(billing)
    result = repository_poll(repository=yum)  # the repository did not change; its feeds did

    assert result.registered == ["billing-3.0.0-1.noarch"]


def test_two_applications_of_one_package_both_get_the_build(repo, server, shop):
    catalog.application_create(name="shop-api-canary", package="shop-api", actor="admin")
    repo.add("shop-api", "1.0.0")
    repo.index()
    yum = repository_create(name="el9", base_url=server.url, actor="admin")

    repository_poll(repository=yum)

    assert sorted(Artifact.objects.values_list("application__name", flat=True)) == ["shop-api", "shop-api-canary"]
