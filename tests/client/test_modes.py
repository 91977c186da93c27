"""Which side answers: client mode when a server is configured (a stored login or
ORBITER_URL), the database otherwise or with --local; lock/unlock/history only as a client."""

import pytest

from orbiter import cli
from orbiter.client import credentials

UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    for name in ("ORBITER_URL", "ORBITER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


def exit_code_of(argv: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    return stopped.value.code


def test_with_a_stored_login_status_asks_the_server(capsys):
    credentials.save(UNREACHABLE, "orb_x")

    assert exit_code_of(["status", "7"]) == 5
    assert capsys.readouterr().err == f"error: cannot reach {UNREACHABLE}: Connection refused\n"


def test_orbiter_url_alone_selects_client_mode_and_asks_for_a_token(capsys, monkeypatch):
    monkeypatch.setenv("ORBITER_URL", UNREACHABLE)

    assert exit_code_of(["deploy", "shop-api", "1.1.0-1", "--env", "cert"]) == 5
    assert f"no API token for {UNREACHABLE}: set ORBITER_TOKEN" in capsys.readouterr().err


@pytest.mark.django_db
def test_local_acts_on_the_database_even_when_logged_in(capsys):
    credentials.save(UNREACHABLE, "orb_x")

    cli.main(["status", "--local"])

    assert capsys.readouterr().out == "no deployments yet\n"


@pytest.mark.django_db
def test_without_a_login_the_operations_act_on_the_database(capsys):
    cli.main(["status"])

    assert capsys.readouterr().out == "no deployments yet\n"


def test_client_only_commands_need_a_login(capsys):
    assert exit_code_of(["lock", "cert", "--reason", "x"]) == 5
    assert "not logged in" in capsys.readouterr().err


def test_a_usage_error_exits_2(capsys):
    credentials.save(UNREACHABLE, "orb_x")

    assert exit_code_of(["approve", "forty-two"]) == 2
    assert "'forty-two' is not a deployment id" in capsys.readouterr().err
