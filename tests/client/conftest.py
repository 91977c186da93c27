"""Client mode against the real API: pytest-django's live server, the `orbiter` console script
of the venv run as a subprocess with ORBITER_URL / ORBITER_TOKEN (or a stored login), and —
for the tests that watch a rollout — the engine run by Celery's worker inside this process
on the PostgreSQL and Redis that `./lab/test` starts (the browser tests' `engine` fixture)."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from tests.browser.conftest import engine  # noqa: F401  (a fixture, used by name)
from tests.conftest import build_fleet

SCRIPT = Path(sys.executable).with_name("orbiter")
COMMAND_TIMEOUT = 120  # s: a waited rollout of a few simulated hosts takes seconds


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def home(tmp_path) -> Path:
    """A fresh HOME and XDG_CONFIG_HOME: no stored login of whoever runs the tests leaks in."""
    (tmp_path / "config").mkdir()
    return tmp_path


@pytest.fixture
def orbiter(home, live_server):
    """orbiter("deploy", ..., token=raw) runs `orbiter` as a script does; token=None leaves
    ORBITER_URL and ORBITER_TOKEN unset (a stored login, or none, applies)."""

    def run(*argv: str, token: str | None = None, url: str | None = None, stdin: str | None = None,
            extra_env: dict | None = None) -> Result:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("ORBITER_", "DJANGO_"))}  # the client needs no server settings
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), COLUMNS="160", NO_COLOR="1")
        if token is not None:
            env.update(ORBITER_URL=url or live_server.url, ORBITER_TOKEN=token)
        env.update(extra_env or {})
        command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "orbiter.cli"]
        done = subprocess.run([*command, *argv], env=env, input=stdin, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def tokens(fleet):
    """The cast, each with an API token: alice deploys everywhere, bob also approves in
    production, vera only views, root is a superuser. tokens["alice"] is alice's token."""
    User.objects.create_user("alice")
    User.objects.create_user("bob")
    User.objects.create_user("vera")
    User.objects.create_superuser("root")
    for name in ("alice", "bob"):
        role_grant(role="deployer", user=name, actor="root")
    role_grant(role="approver", user="bob", environment="production", actor="root")
    raw = {}
    for name, max_role in (("alice", "deployer"), ("bob", "approver"), ("vera", "viewer"), ("root", "admin")):
        _, raw[name] = token_create(user=User.objects.get(username=name), name=f"{name}-cli", actor="root",
                                    max_role=max_role)
    return raw


@pytest.fixture
def fleet(transactional_db):
    """shop-api on 2 hosts in cert (open) and 2 in production (one approval needed); each
    simulated Puppet run takes 0.3 s, so a rollout is seen moving."""
    build_fleet(hosts=2, environment="cert", converge={"duration_s": 0.3}, defaults={"batch_size": "1"})
    build_fleet(hosts=2, environment="production", requires_approval=True)
