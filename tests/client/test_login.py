"""`orbiter login` / `logout`, and where client mode finds its server and token."""

import stat

import pytest

from orbiter.deployments import services

pytestmark = pytest.mark.usefixtures("tasks")  # the engine is not needed: nothing runs


def test_login_checks_the_token_and_stores_it_for_the_owner_only(orbiter, tokens, home, live_server):
    services.deployment_create(application="shop-api", environment="cert", version="1.1.0-1", actor="alice")
    token_file = home / "token"
    token_file.write_text(tokens["alice"] + "\n")

    result = orbiter("login", live_server.url + "/", "--token-file", str(token_file))

    assert result.code == 0, result.err
    assert f"logged in to {live_server.url} as alice with token alice-cli" in result.out
    stored = home / "config" / "orbiter" / "credentials.toml"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert f'url = "{live_server.url}"' in stored.read_text()
    # Later commands need no environment variables: the stored login applies.
    history = orbiter("history", "shop-api")
    assert history.code == 0, history.err
    assert "shop-api" in history.out and "1.1.0-1" in history.out and "alice" in history.out


def test_login_takes_the_token_from_orbiter_token(orbiter, tokens, live_server, home):
    result = orbiter("login", extra_env={"ORBITER_URL": live_server.url, "ORBITER_TOKEN": tokens["vera"]})

    assert result.code == 0, result.err
    assert "as vera" in result.out
    assert tokens["vera"] in (home / "config" / "orbiter" / "credentials.toml").read_text()


def test_a_wrong_token_is_refused_at_login_and_nothing_is_stored(orbiter, tokens, home, live_server):
    token_file = home / "token"
    token_file.write_text("orb_not-a-real-token")

    result = orbiter("login", live_server.url, "--token-file", str(token_file))

    assert result.code == 5
    assert "authentication failed" in result.err and "unknown, expired or revoked" in result.err
    assert not (home / "config" / "orbiter" / "credentials.toml").exists()


def test_a_wrong_token_in_the_environment_exits_5(orbiter, tokens):
    result = orbiter("history", token="orb_wrong")

    assert result.code == 5
    assert result.err.startswith("error: authentication failed at http://")


def test_an_unreachable_server_exits_5_naming_it(orbiter, tokens):
    result = orbiter("status", "1", token=tokens["alice"], url="http://127.0.0.1:9")

    assert result.code == 5
    assert result.err == "error: cannot reach http://127.0.0.1:9: Connection refused\n"


def test_without_a_login_a_client_only_command_says_how_to_log_in(orbiter):
    result = orbiter("history")

    assert result.code == 5
    assert "not logged in: run `orbiter login URL`" in result.err


def test_logout_forgets_the_stored_login(orbiter, tokens, live_server, home):
    orbiter("login", extra_env={"ORBITER_URL": live_server.url, "ORBITER_TOKEN": tokens["alice"]})

    result = orbiter("logout")

    assert result.code == 0
    assert not (home / "config" / "orbiter" / "credentials.toml").exists()
    assert orbiter("history").code == 5


def test_a_stored_token_is_never_sent_to_another_server(orbiter, tokens, live_server):
    orbiter("login", extra_env={"ORBITER_URL": live_server.url, "ORBITER_TOKEN": tokens["alice"]})

    result = orbiter("history", extra_env={"ORBITER_URL": "http://127.0.0.1:9"})

    assert result.code == 5
    assert "no API token for http://127.0.0.1:9: set ORBITER_TOKEN" in result.err
