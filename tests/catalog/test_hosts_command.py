"""`orbiter hosts unassigned|assign|reject|unreject|forget`: the admin's side of agents that
enrolled before anyone listed them, on the database (local mode)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from orbiter.audit.models import Event
from orbiter.catalog.agents import fingerprint
from orbiter.catalog.models import Host, UnassignedHost
from orbiter_agent.keys import generate_keypair
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db

NEW = "new-01.example.test"


def orbiter(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*argv, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def waiting(client):
    build_fleet(hosts=1)
    key = generate_keypair()[1]
    client.post("/agents/enroll", json.dumps({"certname": NEW, "public_key": key}), content_type="application/json")
    return key


def test_unassigned_lists_the_certname_with_its_fingerprint_and_attempts(waiting):
    code, out, _ = orbiter("hosts", "unassigned")

    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith(NEW)]
    assert fingerprint(waiting) in line and line.rstrip().endswith(" 1")


def test_assign_creates_the_host_with_its_applications_labels_and_the_key_pending(waiting):
    code, out, err = orbiter("hosts", "assign", NEW, "--environment", "cert", "--application", "shop-api",
                             "--label", "rack=b2", "--label", "dc=par1", "--as", "alice")

    assert (code, err) == (0, "")
    assert "agent key pending" in out and f"orbiter agents approve {NEW}" in out
    host = Host.objects.get(certname=NEW)
    assert (host.environment.name, host.labels, host.agent_key_pending) == ("cert", {"rack": "b2", "dc": "par1"},
                                                                            waiting)
    assert [app.name for app in host.applications.all()] == ["shop-api"]
    assert Event.objects.filter(verb="host.create", actor="alice").exists()
    assert NEW not in orbiter("hosts", "unassigned")[1]


def test_assign_with_the_hosts_fingerprint_trusts_the_key(waiting):
    code, out, _ = orbiter("hosts", "assign", NEW, "--environment", "cert", "--fingerprint", fingerprint(waiting),
                           "--as", "alice")

    assert code == 0 and "agent key trusted" in out
    assert Host.objects.get(certname=NEW).agent_public_key == waiting


@pytest.mark.parametrize("argv, named", [
    (["--environment", "nowhere"], "--environment: unknown 'nowhere'; known: cert"),
    ([], "--environment: give the environment"),
    (["--environment", "cert", "--application", "nope"], "--application: unknown 'nope'; known: shop-api"),
    (["--environment", "cert", "--label", "rack"], "--label: 'rack' is not KEY=VALUE"),
    (["--environment", "cert", "--label", "rack=" + "x" * 300], "--label: give a JSON object of short strings"),
])
def test_assign_with_a_bad_argument_says_which_and_creates_nothing(waiting, argv, named):
    code, _, err = orbiter("hosts", "assign", NEW, *argv, "--as", "alice")

    assert code == 2 and named in err
    assert not Host.objects.filter(certname=NEW).exists() and UnassignedHost.objects.filter(certname=NEW).exists()
    assert not Event.objects.filter(verb="host.create", actor="alice").exists()


def test_reject_hides_it_from_the_list_unless_asked_and_unreject_brings_it_back(waiting):
    assert orbiter("hosts", "reject", NEW, "--as", "alice")[0] == 0

    assert NEW not in orbiter("hosts", "unassigned")[1]
    assert "alice" in orbiter("hosts", "unassigned", "--rejected")[1]
    code, _, err = orbiter("hosts", "assign", NEW, "--environment", "cert", "--as", "alice")
    assert code == 2 and "unreject it first" in err

    assert orbiter("hosts", "unreject", NEW, "--as", "bob")[0] == 0
    assert NEW in orbiter("hosts", "unassigned")[1]


def test_an_action_on_an_unknown_certname_says_so(waiting):
    code, _, err = orbiter("hosts", "reject", "nobody.example.test", "--as", "alice")

    assert code == 2 and "no unassigned host 'nobody.example.test'" in err


def test_without_an_action_it_still_lists_the_hosts_versions(waiting):
    code, out, _ = orbiter("hosts", "--env", "cert")

    assert code == 0 and "shop-api-cert-01" in out and NEW not in out
