"""The agent's TOML file: a good one loads; a bad one is refused naming the key at fault."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orbiter_agent.config import DEFAULT_PUPPET_COMMAND, ConfigError, load_config
from orbiter_agent.protocol import generate_keypair, write_private_key, write_public_key
from tests.agent_daemon.support import ROOT

GOOD = {
    "certname": "web-01.example.test",
    "brokers": ["stomp://mq1.example.test:61613", "stomp://mq2.example.test:61614"],
    "username": "agent",
    "password_file": "stomp.password",
    "private_key": "agent.key",
    "control_plane_public_key": "control-plane.pub",
    "state_dir": "state",
}


def toml(settings: dict) -> str:
    """Top-level keys, then one [table] per dict value (JSON scalars and lists are TOML)."""
    top = [f"{k} = {json.dumps(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    tables = [
        f"[{name}]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in table.items())
        for name, table in settings.items()
        if isinstance(table, dict)
    ]
    return "\n".join(top + tables) + "\n"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    private_pem, _ = generate_keypair()
    write_private_key(tmp_path / "agent.key", private_pem)
    write_public_key(tmp_path / "control-plane.pub", generate_keypair()[1])
    (tmp_path / "stomp.password").write_text("s3cret\n")
    return tmp_path


def load(config_dir: Path, **changes):
    settings = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    path = config_dir / "agent.toml"
    path.write_text(toml(settings))
    return load_config(path)


def refusal(config_dir: Path, **changes) -> str:
    with pytest.raises(ConfigError) as exc:
        load(config_dir, **changes)
    return str(exc.value)


def test_a_good_file_loads_with_defaults(config_dir):
    config = load(config_dir)

    assert config.brokers == (("mq1.example.test", 61613), ("mq2.example.test", 61614))
    assert config.password == "s3cret" and config.state_dir == config_dir / "state"
    assert config.request_queue == "/queue/orbiter.agent.web-01.example.test"
    assert config.puppet.command == DEFAULT_PUPPET_COMMAND and config.heartbeat_ms == 10000
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"certname": None}, "certname is required"),
        ({"certname": "Web_01"}, "certname must be a lower-case DNS-like name"),
        ({"brokers": ["tcp://mq1:61613"]}, "brokers[0] must look like stomp://host:61613"),
        ({"brokers": ["stomp://mq1"]}, "brokers[0] must look like stomp://host:61613"),
        ({"brokers": []}, "brokers must be a non-empty list"),
        ({"heartbeat_ms": 5}, "heartbeat_ms must be 0 (off) or an integer from 1000 to 600000"),
        ({"password": "x"}, "password and password_file: give one of them, not both"),
        ({"colour": 1}, "colour is not a setting; allowed: brokers, certname"),
        ({"packages": ["--all"]}, "packages[0] must be a package name"),
        ({"puppet": {"command": "puppet agent -t"}}, "puppet.command must be a list"),
        ({"puppet": {"lock_timeout_s": -1}}, "puppet.lock_timeout_s must be a number"),
        ({"puppet": {"noop": True}}, "puppet.noop is not a setting; allowed: command,"),
        ({"tls": {"ca_file": "ca.pem"}}, "tls.cert_file is required"),
    ],
)
def test_it_refuses_a_bad_setting_naming_it(config_dir, changes, message):
    assert message in refusal(config_dir, **changes)


def test_it_refuses_a_private_key_others_can_read(config_dir):
    os.chmod(config_dir / "agent.key", 0o640)

    assert "private_key: private key" in refusal(config_dir)
    assert "mode 0640" in refusal(config_dir)


def test_it_refuses_a_missing_control_plane_key(config_dir):
    (config_dir / "control-plane.pub").unlink()

    assert "control_plane_public_key: cannot read" in refusal(config_dir)


def test_the_agent_exits_2_naming_the_bad_setting(config_dir):
    (config_dir / "agent.toml").write_text(toml({**GOOD, "heartbeat_ms": "often"}))

    agent = subprocess.run(
        [sys.executable, "-m", "orbiter_agent", "run", "--config", str(config_dir / "agent.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert agent.returncode == 2
    [line] = agent.stderr.splitlines()
    assert json.loads(line)["event"] == "config_invalid"
    assert "heartbeat_ms must be 0 (off) or an integer" in json.loads(line)["error"]
