"""Polling a real createrepo_c repository over HTTP: new builds become artifacts, once."""

import hashlib

import pytest
import requests

from orbiter.catalog.models import Artifact
from orbiter.catalog.signals import artifact_registered
from orbiter.sources.services import repository_create, repository_poll

pytestmark = pytest.mark.django_db


def artifacts(application="shop-api") -> list[str]:
    return sorted(f"{a.label}.{a.arch}" for a in Artifact.objects.filter(application__name=application))


@pytest.fixture
def announced():
    seen = []

    def receiver(sender, artifact, **kwargs):
        seen.append(str(artifact))

    artifact_registered.connect(receiver, weak=False)
    yield seen
    artifact_registered.disconnect(receiver)


def test_it_registers_every_version_and_architecture_once_with_checksum_and_url(
    repo, server, shop, announced, django_capture_on_commit_callbacks
):
    rpm = repo.add("shop-api", "1.0.0")
    repo.add("shop-api", "1.0.0", arch="x86_64")
    repo.add("shop-api", "1.0.0", arch="aarch64")
    repo.add("shop-api", "1.1.0", release="2", epoch=1)
    repo.add("billing", "3.0.0")  # no application packages billing
    repo.index()
    yum = repository_create(name="el9", base_url=server.url, actor="admin")

    with django_capture_on_commit_callbacks(execute=True):
        result = repository_poll(repository=yum)

    assert result.ok and result.changed
    assert artifacts() == ["1.0.0-1.aarch64", "1.0.0-1.noarch", "1.0.0-1.x86_64", "1:1.1.0-2.noarch"]
    assert not Artifact.objects.filter(name="billing").exists()
    assert sorted(announced) == sorted(f"shop-api-{a}" for a in artifacts())
    noarch = Artifact.objects.get(version="1.0.0", arch="noarch")
    assert noarch.checksum == "sha256:" + hashlib.sha256(rpm.read_bytes()).hexdigest()
    assert noarch.source_url == f"{server.url}{rpm.name}"
    assert requests.get(noarch.source_url, timeout=5).content == rpm.read_bytes()
    yum.refresh_from_db()
    assert (yum.last_error, yum.last_found) == ("", 4)
    assert yum.last_success_at is not None


def test_a_second_poll_asks_conditionally_and_registers_nothing(repo, server, shop, announced,
                                                              django_capture_on_commit_callbacks):
    repo.add("shop-api", "1.0.0")
    repo.index()
    yum = repository_create(name="el9", base_url=server.url, actor="admin")
    repository_poll(repository=yum)
    first_etag = server.requests_for("repomd.xml")[-1]

    with django_capture_on_commit_callbacks(execute=True):
        again = repository_poll(repository=yum)

    sent = server.requests_for("repomd.xml")[-1]
    assert "If-None-Match" not in first_etag
    assert sent["If-None-Match"].startswith('"') and sent["If-Modified-Since"].endswith("GMT")
    assert (again.ok, again.changed, again.registered) == (True, False, [])
    assert len(server.requests_for("primary.xml.gz")) == 1  # the primary was not downloaded again
    assert artifacts() == ["1.0.0-1.noarch"] and announced == []


def test_a_server_without_etags_is_asked_if_modified_since(repo, rpms, shop):
    from tests.sources.support import RepoServer

    repo.add("shop-api", "1.0.0")
    repo.index()
    with RepoServer(repo.root, etags=False) as plain:
        yum = repository_create(name="el9", base_url=plain.url, actor="admin")
        repository_poll(repository=yum)
        again = repository_poll(repository=yum)
        sent = plain.requests_for("repomd.xml")[-1]

    assert "If-None-Match" not in sent and sent["If-Modified-Since"].endswith("GMT")
    assert (again.changed, again.registered) == (False, [])


def test_a_new_rpm_published_with_createrepo_update_is_found(repo, server, shop, announced,
                                                              django_capture_on_commit_callbacks):
    repo.add("shop-api", "1.0.0")
    repo.index()
    yum = repository_create(name="el9", base_url=server.url, actor="admin")
    repository_poll(repository=yum)

    repo.add("shop-api", "1.2.0")
    repo.index(update=True)
    with django_capture_on_commit_callbacks(execute=True):
        result = repository_poll(repository=yum)

    assert result.registered == ["shop-api-1.2.0-1.noarch"]
    assert announced == ["shop-api-1.2.0-1.noarch"]
    assert artifacts() == ["1.0.0-1.noarch", "1.2.0-1.noarch"]


def test_several_new_builds_are_registered_oldest_first(repo, server, shop):
    for version in ("1.10.0", "1.9.0", "1.2.0"):
        repo.add("shop-api", version)
    repo.index()
    yum = repository_create(name="el9", base_url=server.url, actor="admin")

    result = repository_poll(repository=yum)

    assert result.registered == [f"shop-api-{v}-1.noarch" for v in ("1.2.0", "1.9.0", "1.10.0")]


@pytest.mark.parametrize("compress, suffix", [("gz", ".xml.gz"), ("xz", ".xml.xz"), ("zstd", ".xml.zst")])
def test_it_reads_gzip_xz_and_zstd_primary_metadata(repo, server, shop, compress, suffix):
    repo.add("shop-api", "2.0.0")
    repo.add("shop-api", "2.0.0", arch="x86_64")
    repo.index(compress=compress)
    assert repo.primary().name.endswith(suffix)
    yum = repository_create(name="el9", base_url=server.url, actor="admin")

    result = repository_poll(repository=yum)

    assert result.ok, result.error
    assert artifacts() == ["2.0.0-1.noarch", "2.0.0-1.x86_64"]
