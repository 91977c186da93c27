"""`orbiter repos add|list|poll`."""

import pytest

from orbiter.catalog.models import Artifact
from tests.cli.conftest import orbiter

pytestmark = pytest.mark.django_db


def test_add_then_poll_registers_the_builds_and_list_shows_the_outcome(repo, server, shop):
    repo.add("shop-api", "1.0.0")
    repo.index()

    added = orbiter("repos", "add", "el9", server.url, "--app", "shop-api", "--interval", "30")
    polled = orbiter("repos", "poll")
    again = orbiter("repos", "poll", "el9")
    listed = orbiter("repos", "list")

    assert added.out == f"el9: added, polled every 30s from {server.url}\n"
    assert (polled.code, polled.out) == (0, "el9: shop-api-1.0.0-1.noarch\n")
    assert again.out == "el9: nothing new (not modified)\n"
    row = listed.out.splitlines()[1].split()
    assert (row[0], row[1], row[4], row[5], row[6]) == ("el9", "30s", "1", "shop-api", server.url)
    assert Artifact.objects.count() == 1


def test_poll_exits_1_and_names_the_broken_repository(server, shop):
    orbiter("repos", "add", "broken", server.url + "missing/")

    result = orbiter("repos", "poll")
    listed = orbiter("repos", "list")

    assert result.code == 1
    assert result.err == f"error: yum repository broken: GET {server.url}missing/repodata/repomd.xml: HTTP 404 Not Found\n"
    assert "error at" in listed.out and "HTTP 404" in listed.out


def test_add_refuses_a_bad_url_and_an_unknown_application(db):
    bad_url = orbiter("repos", "add", "el9", "ftp://repo.example/")
    unknown = orbiter("repos", "add", "el9", "https://repo.example/", "--app", "nope")

    assert bad_url.code == 2 and bad_url.err.startswith("error: base_url: 'ftp://repo.example/' is not allowed")
    assert unknown.code == 2 and unknown.err.startswith("error: applications: 'nope' unknown")


def test_poll_of_an_unknown_repository_lists_the_known_ones(db):
    orbiter("repos", "add", "el9", "https://repo.example/el9/")

    result = orbiter("repos", "poll", "el8")

    assert (result.code, result.err) == (2, "error: repository 'el8' is unknown; known: el9\n")
