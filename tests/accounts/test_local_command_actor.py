"""The local `orbiter tokens|roles|agents` commands record who ran them: `--as`, else
$ORBITER_USER, else the login name (the rule every local command follows), never a
made-up `admin`."""

import getpass

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from orbiter.accounts.models import ApiToken
from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Host

pytestmark = pytest.mark.django_db

COMMANDS = {
    "tokens create": (["tokens", "create", "--user", "alice", "--name", "ci"], "token.create"),
    "roles grant": (["roles", "grant", "approver", "--user", "alice"], "role.grant"),
    "agents token": (["agents", "token", "web-01.example.test"], "agent.token"),
}


@pytest.fixture(autouse=True)
def world(capsys):
    User.objects.create_user("alice")
    env = catalog.environment_create(name="cert", order=0, actor="setup")
    catalog.host_create(certname="web-01.example.test", environment=env, applications=[], actor="setup")


def actors_of(verb: str) -> list[str]:
    return list(Event.objects.filter(verb=verb).values_list("actor", flat=True))


@pytest.mark.parametrize("command", COMMANDS)
def test_the_event_names_orbiter_user_when_it_is_set(command, monkeypatch):
    monkeypatch.setenv("ORBITER_USER", "carol")
    args, verb = COMMANDS[command]

    call_command(*args)

    assert actors_of(verb) == ["carol"]


@pytest.mark.parametrize("command", COMMANDS)
def test_the_event_names_the_login_name_without_orbiter_user(command, monkeypatch):
    monkeypatch.delenv("ORBITER_USER", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "dave")
    args, verb = COMMANDS[command]

    call_command(*args)

    assert actors_of(verb) == ["dave"]


@pytest.mark.parametrize("command", COMMANDS)
def test_as_names_the_actor_over_orbiter_user(command, monkeypatch):
    monkeypatch.setenv("ORBITER_USER", "carol")
    args, verb = COMMANDS[command]

    call_command(*args, "--as", "erin")

    assert actors_of(verb) == ["erin"]


def test_revoking_a_token_and_a_key_records_who_did(monkeypatch):
    monkeypatch.setenv("ORBITER_USER", "carol")
    call_command("tokens", "create", "--user", "alice", "--name", "ci")
    Host.objects.filter(certname="web-01.example.test").update(agent_public_key="a" * 44)

    call_command("tokens", "revoke", str(ApiToken.objects.get().pk))
    call_command("agents", "revoke", "web-01.example.test")
    call_command("roles", "grant", "viewer", "--user", "alice")
    call_command("roles", "revoke", "viewer", "--user", "alice")

    assert actors_of("token.revoke") == actors_of("agent.revoke_key") == actors_of("role.revoke") == ["carol"]


def test_an_empty_as_is_refused_and_nothing_is_written(monkeypatch, capsys):
    monkeypatch.setenv("ORBITER_USER", "carol")

    with pytest.raises(SystemExit) as exited:
        call_command("roles", "grant", "approver", "--user", "alice", "--as", " ")

    assert exited.value.code == 2
    assert "--as: give a name" in capsys.readouterr().err
    assert not Event.objects.filter(verb="role.grant").exists()
