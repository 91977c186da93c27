"""`orbiter login` warns before it sends the token over plain http, as `orbiter-agent enroll`
does — except to this machine (localhost, 127.0.0.0/8, ::1)."""

import io

import pytest

from orbiter.client import commands, render
from orbiter.client.http import Api

WARNING = "orbiter: warning: sending the token over plain http"


@pytest.fixture
def sent(monkeypatch, home) -> list[str]:
    """The network edge: the URL `orbiter login` checks its token against, answered as a server would."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    urls = []

    def get(api, path, **params):
        urls.append(api.base + path)
        return {"username": "alice", "token": "alice-cli", "roles": {}}

    monkeypatch.setattr(Api, "get", get)
    return urls


def login(home, url: str) -> tuple[int, str]:
    (home / "token").write_text("orb_token\n")
    err = io.StringIO()
    code = commands.main(["login", url, "--token-file", str(home / "token")], out=render.Out(io.StringIO(), err))
    return code, err.getvalue()


@pytest.mark.parametrize("url", ["http://orbiter.example.com", "http://10.1.2.3:8000", "http://[2001:db8::1]"])
def test_login_over_plain_http_to_another_machine_warns_and_goes_on(sent, home, url):
    code, err = login(home, url)

    assert code == 0 and sent == [f"{url}/api/v1/me"]
    assert err.strip() == WARNING


@pytest.mark.parametrize("url", ["https://orbiter.example.com", "http://localhost:8000", "http://127.0.0.1:8000",
                                 "http://127.0.1.1", "http://[::1]:8000", "http://orbiter.localhost"])
def test_login_over_https_or_to_this_machine_does_not_warn(sent, home, url):
    code, err = login(home, url)

    assert (code, err) == (0, "")


def test_the_agents_warning_says_the_same(sent, home):
    from pathlib import Path

    import orbiter_agent.enroll

    assert WARNING.removeprefix("orbiter: ") in Path(orbiter_agent.enroll.__file__).read_text()
