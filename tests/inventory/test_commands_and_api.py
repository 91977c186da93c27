"""`orbiter inventory sources|sync` (on the database, and through the API in client mode) and
the API's host-source endpoints: what an operator reads, and who may sync."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from orbiter.catalog.models import Host
from orbiter.inventory.models import HostSource
from tests.client.conftest import home, orbiter  # noqa: F401  (fixtures, used by name)
from tests.inventory.support import node


def run(*argv: str):
    out, err = StringIO(), StringIO()
    try:
        call_command("inventory", *argv, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def users(db):
    for name in ("ada", "dan", "vic"):
        User.objects.create_user(name)
    role_grant(role="admin", user="ada", environment="production", actor="setup")
    role_grant(role="deployer", user="dan", environment="production", actor="setup")
    role_grant(role="viewer", user="vic", actor="setup")


def client(name: str) -> APIClient:
    api = APIClient()
    api.force_login(User.objects.get(username=name))
    return api


@pytest.mark.django_db
def test_sources_lists_each_source_with_its_hosts_last_good_sync_and_error(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test"), node("web-02.example.test")])
    run("sync", "prod")
    memory_nodes.error = "https://puppetdb.example.test:8081/pdb/query/v4: connection refused"
    run("sync", "prod")

    code, out, _ = run("sources")

    assert code == 0
    [header, line] = out.splitlines()
    assert header.split()[:5] == ["name", "environment", "hosts", "retired", "last"]
    assert line.split()[:4] == ["prod", "production", "2", "0"]
    assert HostSource.objects.get().last_success_at.isoformat() in line
    assert line.endswith("connection refused")


@pytest.mark.django_db
def test_sync_prints_the_diff_and_a_dry_run_changes_nothing(source, memory_nodes):
    memory_nodes.set([node("web-01.example.test"), node("manual-01.example.test")])

    code, out, _ = run("sync", "prod", "--dry-run")

    assert code == 0
    assert out.splitlines()[0].startswith("prod: would change: 2 nodes; 1 new, 0 reactivated")
    assert "  + created: web-01.example.test" in out.splitlines()
    assert "  ! clashes: manual-01.example.test: a host listed by hand; left as it is" in out.splitlines()
    assert not Host.objects.filter(certname="web-01.example.test").exists()

    code, out, _ = run("sync", "--json")

    assert code == 0
    assert json.loads(out)[0]["created"] == ["web-01.example.test"]
    assert Host.objects.filter(certname="web-01.example.test", source=source).exists()


@pytest.mark.django_db
def test_sync_exits_1_naming_the_source_and_the_error_when_puppetdb_cannot_be_read(source, memory_nodes):
    memory_nodes.error = "https://puppetdb.example.test:8081/pdb/query/v4: connection refused"

    code, out, err = run("sync")

    assert code == 1
    assert err.strip() == "error: prod: https://puppetdb.example.test:8081/pdb/query/v4: connection refused"


@pytest.mark.django_db
def test_sync_of_an_unknown_source_exits_2_naming_the_known_ones(source, memory_nodes):
    code, _, err = run("sync", "stage")

    assert code == 2
    assert err.strip() == "error: host source 'stage' does not exist; known: prod"


@pytest.mark.django_db
def test_the_api_lists_sources_to_viewers(source, memory_nodes, users):
    response = client("vic").get("/api/v1/host-sources")

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["name"], row["environment"], row["active_hosts"], row["last_success_at"]) == (
        "prod", "production", 0, None)


@pytest.mark.django_db
def test_an_admin_syncs_a_source_through_the_api_with_a_dry_run_first(source, memory_nodes, users):
    memory_nodes.set([node("web-01.example.test")])

    dry = client("ada").post("/api/v1/host-sources/prod/sync", {"dry_run": True}, format="json")
    assert (dry.status_code, dry.json()["created"], dry.json()["dry_run"]) == (200, ["web-01.example.test"], True)
    assert not Host.objects.filter(certname="web-01.example.test").exists()

    done = client("ada").post("/api/v1/host-sources/prod/sync", {}, format="json")
    assert (done.status_code, done.json()["counts"]["created"]) == (200, 1)
    assert Host.objects.get(certname="web-01.example.test").source == source


@pytest.mark.django_db
def test_only_an_admin_of_the_source_s_environment_may_sync_it(source, memory_nodes, users):
    memory_nodes.set([node("web-01.example.test")])

    response = client("dan").post("/api/v1/host-sources/prod/sync", {}, format="json")

    assert response.status_code == 403
    assert "needs the admin role, has deployer" in response.json()["error"]["message"]
    assert not Host.objects.filter(certname="web-01.example.test").exists()


@pytest.mark.django_db
def test_a_puppetdb_that_is_down_answers_502_and_changes_nothing_but_the_error(source, memory_nodes, users):
    memory_nodes.error = "https://puppetdb.example.test:8081/pdb/query/v4: connection refused"

    response = client("ada").post("/api/v1/host-sources/prod/sync", {}, format="json")

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "puppetdb_error"
    assert HostSource.objects.get().last_error == memory_nodes.error


@pytest.mark.django_db(transaction=True)
def test_client_mode_syncs_through_the_api(orbiter, memory_nodes, source):  # noqa: F811
    User.objects.create_user("ada")
    role_grant(role="admin", user="ada", environment="production", actor="setup")
    _, token = token_create(user=User.objects.get(username="ada"), name="ada-cli", actor="setup",
                            max_role="admin")
    memory_nodes.set([node("web-01.example.test")])

    synced = orbiter("inventory", "sync", "prod", token=token)
    listed = orbiter("inventory", "sources", token=token)

    assert synced.code == 0, synced.err
    assert synced.out.splitlines()[0].startswith("prod: synced: 1 nodes; 1 new")
    assert listed.out.splitlines()[1].split()[:3] == ["prod", "production", "1"]
    memory_nodes.error = "https://puppetdb.example.test:8081/pdb/query/v4: connection refused"
    failed = orbiter("inventory", "sync", token=token)
    assert failed.code == 1
    assert "prod: https://puppetdb.example.test:8081/pdb/query/v4: connection refused" in failed.err
