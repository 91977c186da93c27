"""The whole path on real components: a Celery worker runs the engine, the agent driver
sends signed puppet.run requests over ActiveMQ, real agents run real `puppet apply`, which
asks Orbiter's ENC for the pinned version; `orbiter listen` records the signed replies.
Two versions in turn: every host ends with the version it was pinned to."""

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from lab.processes import Process, start_scheduler, start_worker
from lab.services import ActiveMQ, started
from orbiter.catalog.agents import agent_enroll, enrollment_token_create
from orbiter.catalog.models import Application
from orbiter.converge.keys import signing_key_create
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter_agent.keys import generate_keypair, write_private_key, write_public_key
from tests.conftest import build_fleet
from tests.deployments.support import host

pytestmark = pytest.mark.integration

MODULE = """class shop_api (String $version, String $package) {
  file { "%(root)s/${trusted['certname']}.version": ensure => file, content => "${package} ${version}\\n" }
}
"""


def require_tools():
    import os

    missing = [what for what, ok in (("ActiveMQ", ActiveMQ.installed()), ("puppet", shutil.which("puppet")))
               if not ok]
    if missing and os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{', '.join(missing)} required (ORBITER_REQUIRE_SERVICES=1) but not installed")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run the suite with ./lab/test")


def agent_config(base: Path, certname: str, stomp_url: str, enc_script: Path, modulepath: Path) -> Path:
    home = base / certname
    pdirs = {k: home / "puppet" / k for k in ("conf", "var", "code", "log", "run", "public")}
    keys = home / "keys"
    keys.mkdir(parents=True)
    private_pem, public = generate_keypair()
    write_private_key(keys / "agent.key", private_pem)
    (home / "public.b64").write_text(public)
    command = ["puppet", "apply", "--certname", certname,
               *[a for k, p in pdirs.items() for a in (f"--{k}dir", str(p))],
               "--node_terminus=exec", f"--external_nodes={enc_script}", "--modulepath", str(modulepath),
               "--detailed-exitcodes", "--color=false", str(modulepath / "site.pp")]  # fmt: skip
    config = home / "agent.toml"
    config.write_text("\n".join([
        f'certname = "{certname}"',
        f"brokers = {json.dumps([stomp_url])}",
        'private_key = "keys/agent.key"',
        'control_plane_public_key = "keys/control-plane.pub"',
        'state_dir = "state"',
        "heartbeat_ms = 2000",
        "[puppet]",
        f"command = {json.dumps(command)}",
        f'publicdir = "{pdirs["public"]}"',
        f'vardir = "{pdirs["var"]}"',
    ]) + "\n")  # fmt: skip
    return config


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_a_version_reaches_every_host_through_agents_and_puppet(live_env, live_server, settings, tmp_path):
    require_tools()
    with started(ActiveMQ(tmp_path / "amq")) as (amq,):
        token = "enc-token-for-the-test"
        (tmp_path / "enc.token").write_text(token)
        settings.ORBITER_ENC_TOKEN = token  # the live server runs in this process
        signing_key = tmp_path / "control-plane.key"
        settings.ORBITER_SIGNING_KEY_FILE = str(signing_key)
        control_plane_public = signing_key_create()
        env = {**live_env, "ORBITER_BUS_URL": amq.url, "ORBITER_SIGNING_KEY_FILE": str(signing_key)}

        root = tmp_path / "deployed"
        root.mkdir()
        modulepath = tmp_path / "modules"
        (modulepath / "shop_api" / "manifests").mkdir(parents=True)
        (modulepath / "shop_api" / "manifests" / "init.pp").write_text(MODULE % {"root": root})
        (modulepath / "site.pp").write_text("# the classes come from the ENC\n")
        enc_script = tmp_path / "orbiter-enc"
        enc_script.write_text(
            f"#!/bin/sh\nexec {sys.executable} -m orbiter_agent.enc --url {live_server.url} "
            f"--token-file {tmp_path / 'enc.token'} \"$1\"\n"
        )
        enc_script.chmod(0o755)

        build_fleet(hosts=2, defaults={"batch_size": "2", "converge_timeout_s": 120, "retry_backoff_s": 1})
        Application.objects.filter(name="shop-api").update(converge_driver="agent", converge_options={})
        agents = []
        for certname in (host(1), host(2)):
            config = agent_config(tmp_path / "hosts", certname, amq.url, enc_script, modulepath)
            write_public_key(config.parent / "keys" / "control-plane.pub", control_plane_public)
            agent_enroll(certname=certname, public_key=(config.parent / "public.b64").read_text(),
                         token=enrollment_token_create(certname=certname, actor="admin"))
            agents.append(_start_agent(config, tmp_path / f"{certname}.agent.log"))

        processes = [start_scheduler(env, tmp_path), start_worker(env, tmp_path, name="engine")]
        listener = Process(["listen"], env, tmp_path / "listener.log")
        listener.wait_for_log("listening for agent replies")
        processes.append(listener)
        try:
            for version in ("1.0.0-1", "1.1.0-1"):
                pk = services.deployment_create(
                    application="shop-api", environment="cert", version=version, actor="alice"
                ).pk
                done = wait_for(
                    lambda pk=pk: Deployment.objects.filter(pk=pk, status__in=states.COMPLETED).first(),
                    180, f"{version} to finish",
                )
                assert done.status == states.SUCCEEDED, (done.message, listener.tail(), _tail(agents))
                for certname in (host(1), host(2)):
                    assert (root / f"{certname}.version").read_text() == f"shop-api {version}\n"
                hd = HostDeployment.objects.filter(deployment_id=pk).first()
                assert hd.puppet["kind"] == "changed" and hd.puppet["exit_code"] == 2
        finally:
            for process in processes:
                process.stop()
            for agent in agents:
                agent.terminate()
                agent.wait(60)


def _start_agent(config: Path, log: Path):
    import subprocess

    handle = open(log, "ab")  # noqa: SIM115 (the agent writes to it until the test ends)
    process = subprocess.Popen([sys.executable, "-m", "orbiter_agent", "run", "--config", str(config)],
                               stdout=handle, stderr=handle, stdin=subprocess.DEVNULL)
    process.log_path = log
    wait_for(lambda: b'"connected"' in log.read_bytes() or process.poll() is not None, 30, "the agent to connect")
    assert process.poll() is None, log.read_text()
    return process


def _tail(agents) -> str:
    return "\n".join(Path(a.log_path).read_text()[-1500:] for a in agents)
