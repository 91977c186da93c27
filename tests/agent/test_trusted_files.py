"""The agent refuses to start on files that hold trust when someone else could change them:
the control plane's key, the broker password, the keys directory, the TLS files, the
configuration itself; and it warns when other users can read its state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orbiter_agent.config import ConfigError, load_config
from orbiter_agent.daemon import Agent
from orbiter_agent.protocol import generate_keypair, write_private_key, write_public_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    """/etc/orbiter-agent as documented: keys/ and trust/ beside the config, directories
    0755, the config and the public key 0644, the password 0600."""
    etc = tmp_path / "etc"
    for d in (etc, etc / "keys", etc / "trust"):
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)
    write_private_key(etc / "keys" / "agent.key", generate_keypair()[0])
    write_public_key(etc / "trust" / "control-plane.pub", generate_keypair()[1])
    (etc / "stomp.password").write_text("s3cret\n")
    (etc / "agent.toml").write_text(
        'certname = "web-01.example.test"\nbrokers = ["stomp://127.0.0.1:9"]\n'
        'password_file = "stomp.password"\nprivate_key = "keys/agent.key"\n'
        'control_plane_public_key = "trust/control-plane.pub"\n'
        f'state_dir = "{tmp_path / "state"}"\n'
    )
    for f in ("agent.toml", "trust/control-plane.pub"):
        os.chmod(etc / f, 0o644)
    os.chmod(etc / "stomp.password", 0o600)
    return etc


def refusal(etc: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(etc / "agent.toml")
    return str(exc.value)


def test_the_documented_modes_load(etc):
    assert load_config(etc / "agent.toml").password == "s3cret"


@pytest.mark.parametrize(
    ("relative", "mode", "key"),
    [
        ("trust/control-plane.pub", 0o666, "control_plane_public_key"),
        ("trust/control-plane.pub", 0o664, "control_plane_public_key"),
        ("trust", 0o777, "control_plane_public_key"),
        ("trust", 0o775, "control_plane_public_key"),
        ("trust", 0o1777, "control_plane_public_key"),  # sticky like /tmp: still anyone's
        ("keys", 0o777, "private_key"),
        ("keys", 0o757, "private_key"),
        ("stomp.password", 0o622, "password_file"),
        ("agent.toml", 0o646, "config file"),
        (".", 0o775, "config file"),  # /etc/orbiter-agent itself
    ],
)
def test_it_refuses_a_trusted_file_or_directory_others_can_write(etc, relative, mode, key):
    path = etc / relative
    os.chmod(path, mode)

    message = refusal(etc)

    assert message.startswith(f"{key}: ")
    assert f"{path.absolute()} has mode {mode:04o}" in message
    assert "group and others must not be able to write to it" in message
    assert f"(run: chmod go-w {path.absolute()})" in message


def test_the_agent_exits_2_naming_the_writable_control_plane_key(etc):
    key = etc / "trust" / "control-plane.pub"
    os.chmod(key, 0o666)

    agent = subprocess.run(
        [sys.executable, "-m", "orbiter_agent", "run", "--config", str(etc / "agent.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert agent.returncode == 2
    [line] = agent.stderr.splitlines()
    event = json.loads(line)
    assert event["event"] == "config_invalid"
    assert event["error"].startswith(f"control_plane_public_key: file {key} has mode 0666")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("relative", ["trust/control-plane.pub", "trust", "stomp.password"])
def test_it_refuses_a_trusted_file_another_user_owns(etc, relative):
    path = etc / relative
    os.chown(path, 65534, 65534)  # nobody: may rewrite it whatever its mode

    message = refusal(etc)

    assert f"{path.absolute()} is owned by uid 65534: only root or the agent's user" in message


def test_it_refuses_a_state_directory_others_can_write(etc, tmp_path):
    (tmp_path / "state").mkdir()
    os.chmod(tmp_path / "state", 0o777)

    with pytest.raises(ConfigError, match=r"state_dir: directory .*state has mode 0777"):
        Agent(load_config(etc / "agent.toml"))


def test_it_warns_when_other_users_can_read_its_state_directory(etc, tmp_path, capsys):
    (tmp_path / "state").mkdir()
    os.chmod(tmp_path / "state", 0o755)

    Agent(load_config(etc / "agent.toml")).store.close()

    [warning] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (warning["event"], warning["key"]) == ("config_warning", "state_dir")
    assert "has mode 0755: other users can read" in warning["warning"]
    assert f"(run: chmod 700 {tmp_path / 'state'})" in warning["warning"]


def test_a_state_directory_it_creates_is_its_own_and_draws_no_warning(etc, tmp_path, capsys):
    Agent(load_config(etc / "agent.toml")).store.close()

    assert oct(os.stat(tmp_path / "state").st_mode & 0o777) == "0o700"
    assert capsys.readouterr().err == ""


def test_it_warns_when_other_users_can_read_the_broker_password(etc, capsys):
    os.chmod(etc / "stomp.password", 0o644)

    Agent(load_config(etc / "agent.toml")).store.close()

    [warning] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (warning["event"], warning["key"]) == ("config_warning", "password_file")
    assert "has mode 0644: other users can read the broker password" in warning["warning"]
    assert f"(run: chmod 600 {etc / 'stomp.password'})" in warning["warning"]
