"""A repository that cannot be read says so, by name, and never holds the others up."""

import socket

import pytest

from lab.services import free_port
from orbiter.catalog.models import Artifact
from orbiter.common.errors import ValidationError
from orbiter.sources import repodata
from orbiter.sources.models import YumRepository
from orbiter.sources.services import repository_create, repository_poll
from orbiter.sources.tasks import poll_due_task

pytestmark = pytest.mark.django_db


def test_a_corrupt_primary_is_refused_recorded_and_read_again_once_fixed(repo, server, shop):
    repo.add("shop-api", "1.0.0")
    repo.index()
    repo.corrupt_primary()
    yum = repository_create(name="el9", base_url=server.url, actor="admin")

    result = repository_poll(repository=yum)

    assert result.error.startswith("yum repository el9: ")
    assert "checksum mismatch" in result.error
    yum.refresh_from_db()
    assert yum.last_error == result.error and yum.last_error_at is not None
    assert not Artifact.objects.exists()

    repo.index()  # the publisher rewrites the metadata; repomd.xml changes
    fixed = repository_poll(repository=yum)

    assert fixed.registered == ["shop-api-1.0.0-1.noarch"]
    yum.refresh_from_db()
    assert yum.last_error == ""


def test_a_failed_read_is_not_remembered_so_the_next_poll_reads_everything_again(repo, server, shop):
    repo.add("shop-api", "1.0.0")
    repo.index()
    good = repo.primary().read_bytes()
    repo.corrupt_primary()
    yum = repository_create(name="el9", base_url=server.url, actor="admin")
    repository_poll(repository=yum)

    repo.primary().write_bytes(good)  # repomd.xml itself never changed: a 304 would hide the fix
    result = repository_poll(repository=yum)

    assert "If-None-Match" not in server.requests_for("repomd.xml")[-1]
    assert result.registered == ["shop-api-1.0.0-1.noarch"]


def test_an_unreachable_repository_is_recorded_and_the_others_are_still_polled(repo, server, shop, tasks):
    repo.add("shop-api", "1.0.0")
    repo.index()
    down = repository_create(name="down", base_url=f"http://127.0.0.1:{free_port()}/el9/", actor="admin")
    up = repository_create(name="up", base_url=server.url, actor="admin")

    poll_due_task.run()
    tasks.run_until(lambda: Artifact.objects.exists() and YumRepository.objects.get(pk=down.pk).last_checked_at)

    down.refresh_from_db()
    up.refresh_from_db()
    assert down.last_error.startswith("yum repository down: GET http://127.0.0.1:")
    assert "connection refused" in down.last_error
    assert up.last_error == "" and up.last_found == 1


def test_a_due_repository_is_claimed_once(repo, server, shop, tasks):
    repo.add("shop-api", "1.0.0")
    repo.index()
    repository_create(name="el9", base_url=server.url, actor="admin")

    assert poll_due_task.run() == 1
    assert poll_due_task.run() == 0  # next poll is one interval away


def test_a_server_that_never_answers_times_out_with_a_clear_error(shop, settings):
    settings.ORBITER_REPO_TIMEOUT_S = 0.3
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        yum = repository_create(name="slow", base_url=f"http://127.0.0.1:{port}/", actor="admin")
        result = repository_poll(repository=yum)

    assert result.error == f"yum repository slow: GET http://127.0.0.1:{port}/repodata/repomd.xml: no answer within 0.3s"


def test_a_missing_repository_reports_the_http_status(server, shop):
    yum = repository_create(name="el9", base_url=server.url + "nothing-here/", actor="admin")

    result = repository_poll(repository=yum)

    assert result.error.endswith("nothing-here/repodata/repomd.xml: HTTP 404 Not Found")


def test_a_primary_over_the_size_limit_is_refused(repo, server, shop):
    repo.add("shop-api", "1.0.0")
    repo.index()
    http = repodata.session()
    repomd = repodata.fetch_repomd(http, server.url)

    with pytest.raises(repodata.RepositoryError, match="over the limit of 100"):
        repodata.fetch_primary(http, repomd, limits=repodata.Limits(max_download_bytes=100))


def test_a_primary_inflating_past_the_limit_is_refused(repo, server, shop):
    repo.add("shop-api", "1.0.0")
    repo.index()
    http = repodata.session()
    repomd = repodata.fetch_repomd(http, server.url)
    raw = repodata.fetch_primary(http, repomd)

    with pytest.raises(repodata.RepositoryError, match="larger than the limit of 200 bytes"):
        list(repodata.iter_packages(raw, url="primary", base_url=server.url,
                                    limits=repodata.Limits(max_xml_bytes=200)))


def test_xml_entities_are_refused(shop):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>&b;</revision></repomd>')

    with pytest.raises(repodata.RepositoryError, match="not valid repomd XML"):
        repodata.parse_repomd(bomb, url="http://x/repodata/repomd.xml")


@pytest.mark.parametrize("url, problem", [
    ("ftp://repo.example/el9/", "is not allowed"),
    ("https://user:secret@repo.example/el9/", "carries credentials"),
    ("https://repo.example/el9/?token=1", "query or fragment"),
    ("", "required"),
])
def test_a_bad_base_url_is_refused_naming_the_field(db, url, problem):
    with pytest.raises(ValidationError, match=problem) as refused:
        repository_create(name="el9", base_url=url, actor="admin")

    assert refused.value.extra["field"] == "base_url"
    assert not YumRepository.objects.exists()


def test_a_poll_interval_below_five_seconds_is_refused(db):
    with pytest.raises(ValidationError, match="poll_interval_s: 1 is not allowed; give whole seconds from 5"):
        repository_create(name="el9", base_url="https://repo.example/el9", actor="admin", poll_interval_s=1)


def test_the_base_url_is_kept_as_a_directory(db):
    assert repository_create(name="el9", base_url="https://repo.example/el9/repodata/repomd.xml",
                             actor="admin").base_url == "https://repo.example/el9/"
