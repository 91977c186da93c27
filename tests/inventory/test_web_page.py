"""The host sources page: every viewer sees each source's hosts, last good sync and error;
admins of its environment get "Sync now" and "Dry run", and see the diff."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orbiter.accounts.services import role_grant
from orbiter.catalog.models import Host
from tests.inventory.support import node
from tests.web.support import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(db):
    for name in ("ada", "vic"):
        User.objects.create_user(name)
    role_grant(role="admin", user="ada", environment="production", actor="setup")
    role_grant(role="viewer", user="vic", actor="setup")


def browser(name: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=name))
    return client


def test_an_admin_syncs_from_the_page_and_reads_the_diff(source, memory_nodes, users):
    memory_nodes.set([node("web-01.example.test")])
    ada = browser("ada")

    page = text(ada.get("/host-sources/"))
    assert "prod https://puppetdb.example.test:8081 production 0 0 never none Dry run Sync now" in page

    dry = text(ada.post("/host-sources/prod/sync", {"dry_run": "1"}, follow=True))
    assert "prod: would change: 1 nodes; 1 new" in dry
    assert "+ created: web-01.example.test" in dry
    assert not Host.objects.filter(certname="web-01.example.test").exists()

    done = text(ada.post("/host-sources/prod/sync", follow=True))
    assert "prod: synced: 1 nodes; 1 new" in done
    assert "production 1 0" in done
    assert Host.objects.filter(certname="web-01.example.test", source=source).exists()


def test_a_viewer_sees_the_sources_but_no_button_and_cannot_sync(source, memory_nodes, users):
    memory_nodes.set([node("web-01.example.test")])
    vic = browser("vic")

    assert "Sync now" not in text(vic.get("/host-sources/"))
    refused = vic.post("/host-sources/prod/sync")

    assert refused.status_code == 403
    assert "needs the admin role in production, has viewer" in text(refused)
    assert not Host.objects.filter(certname="web-01.example.test").exists()


def test_a_puppetdb_that_is_down_is_shown_with_the_last_good_sync_kept(source, memory_nodes, users):
    ada = browser("ada")
    ada.post("/host-sources/prod/sync")
    memory_nodes.error = "https://puppetdb.example.test:8081/pdb/query/v4: connection refused"

    page = text(ada.post("/host-sources/prod/sync", follow=True))

    assert page.count("https://puppetdb.example.test:8081/pdb/query/v4: connection refused") == 2  # message, table
    assert "never" not in page.split("Host sources")[-1]
