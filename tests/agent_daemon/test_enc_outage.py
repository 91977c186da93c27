"""A Puppet run whose ENC cannot reach Orbiter is reported as an outage of the control
plane (`enc_unreachable`), not as the host's failure: real `puppet apply` with the real
`orbiter-enc` as its node terminus."""

import shutil
import socket
import sys
from pathlib import Path

import pytest

from orbiter_agent.config import PuppetConfig
from orbiter_agent.puppet import TRANSIENT, PuppetRunner

pytestmark = pytest.mark.integration

ORBITER_ENC = str(Path(sys.executable).with_name("orbiter-enc"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runner(tmp_path: Path, enc_env: str) -> PuppetRunner:
    if shutil.which("puppet") is None:
        pytest.skip("Puppet not installed: run the suite with ./lab/test")
    enc = tmp_path / "enc"  # Puppet runs the ENC with the certname only: settings by environment
    enc.write_text(f"#!/bin/sh\n{enc_env} exec {ORBITER_ENC} \"$@\"\n")
    enc.chmod(0o755)
    dirs = {k: tmp_path / "puppet" / k for k in ("conf", "var", "code", "log", "run", "public")}
    command = ("puppet", "apply", "--certname", "h1.example.test", "--detailed-exitcodes", "--color=false",
               "--node_terminus=exec", f"--external_nodes={enc}",
               *[a for k, p in dirs.items() for a in (f"--{k}dir", str(p))], "-e", "notice('hello')")
    return PuppetRunner(PuppetConfig(command=command, publicdir=dirs["public"], vardir=dirs["var"]),
                        tmp_path / "state")


def test_a_run_whose_enc_cannot_reach_orbiter_is_an_outage_of_the_control_plane(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"

    result = runner(tmp_path, f"ORBITER_ENC_URL={url} ORBITER_ENC_PATIENCE_S=1").run(False, [], 120)

    assert result.status == TRANSIENT and result.kind == "enc_unreachable", result
    assert result.exit_code == 1
    assert "Orbiter's ENC" in result.message and "not of this host" in result.message
    assert url in result.message  # the ENC's own words, quoted by Puppet


def test_a_run_whose_enc_refuses_the_node_says_the_enc_failed(tmp_path):
    # No URL configured: orbiter-enc exits 2 at once, a failure of the ENC, not an outage.
    result = runner(tmp_path, "ORBITER_ENC_CONFIG=/nonexistent").run(False, [], 120)

    assert result.status == TRANSIENT and result.kind == "enc_failed", result
    assert "its ENC failed" in result.message
