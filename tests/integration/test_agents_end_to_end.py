"""The whole path on real components: a Celery worker runs the engine, the agent driver
sends signed puppet.run requests over ActiveMQ, real agents (one process per host, each
with its own Puppet directories and certname) run real `puppet apply`, which asks
Orbiter's ENC over HTTP for the pinned version; `orbiter listen` records the replies."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from lab.processes import Process, start_scheduler, start_worker
from lab.services import ActiveMQ, started
from orbiter.audit.models import Event
from orbiter.catalog.agents import agent_enroll, enrollment_token_create
from orbiter.catalog.models import Application
from orbiter.converge.keys import signing_key_create
from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter_agent.keys import generate_keypair, write_private_key, write_public_key
from tests.conftest import build_fleet
from tests.deployments.support import host
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

MODULE = """class shop_api (String $version, String $package) {
  file { "%(root)s/${trusted['certname']}.version": ensure => file, content => "${package} ${version}\\n" }
  exec { 'settle': command => '/bin/sleep %(sleep)s', refreshonly => true, subscribe => File["%(root)s/${trusted['certname']}.version"] }
}
"""


class Stack:
    """ActiveMQ, Orbiter's worker, beat and listener, and one real agent per host."""

    def __init__(self, tmp_path, live_env, live_server, settings, amq, hosts: int, sleep: int):
        self.tmp, self.amq = tmp_path, amq
        token = "enc-token-for-the-test"
        (tmp_path / "enc.token").write_text(token)
        settings.ORBITER_ENC_TOKEN = token  # the live server runs in this process
        signing_key = tmp_path / "control-plane.key"
        settings.ORBITER_SIGNING_KEY_FILE = str(signing_key)
        self.control_plane_public = signing_key_create()
        # amq.env(): the control plane's broker login; each agent logs in as itself (_configure).
        self.env = {**live_env, **amq.env(), "ORBITER_BUS_URL": amq.url, "ORBITER_SIGNING_KEY_FILE": str(signing_key)}
        self.root = tmp_path / "deployed"
        self.root.mkdir()
        modules = tmp_path / "modules"
        (modules / "shop_api" / "manifests").mkdir(parents=True)
        (modules / "shop_api" / "manifests" / "init.pp").write_text(MODULE % {"root": self.root, "sleep": sleep})
        (modules / "site.pp").write_text("# the classes come from the ENC\n")
        enc = tmp_path / "orbiter-enc"
        enc.write_text(f"#!/bin/sh\nexec {sys.executable} -m orbiter_agent.enc --url {live_server.url} "
                       f"--token-file {tmp_path / 'enc.token'} \"$1\"\n")
        enc.chmod(0o755)

        build_fleet(hosts=hosts, defaults={"converge_timeout_s": 60, "retry_backoff_s": 1, "max_attempts": 4})
        Application.objects.filter(name="shop-api").update(converge_driver="agent", converge_options={})
        self.certnames = [host(n) for n in range(1, hosts + 1)]
        self.commands, self.configs, self.agents = {}, {}, {}
        for certname in self.certnames:
            self._configure(certname, enc, modules)
            self.start_agent(certname)
        self.processes = [start_scheduler(self.env, tmp_path), start_worker(self.env, tmp_path, name="engine")]
        self.listener = Process(["listen"], self.env, tmp_path / "listener.log")
        self.listener.wait_for_log("listening for agent replies")
        self.processes.append(self.listener)

    def _configure(self, certname, enc, modules):
        home = self.tmp / "hosts" / certname
        (home / "keys").mkdir(parents=True)
        private_pem, public = generate_keypair()
        write_private_key(home / "keys" / "agent.key", private_pem)
        write_public_key(home / "keys" / "control-plane.pub", self.control_plane_public)
        pdirs = {k: home / "puppet" / k for k in ("conf", "var", "code", "log", "run", "public")}
        self.commands[certname] = [
            "puppet", "apply", "--certname", certname, *[a for k, p in pdirs.items() for a in (f"--{k}dir", str(p))],
            "--node_terminus=exec", f"--external_nodes={enc}", "--modulepath", str(modules),
            "--detailed-exitcodes", "--color=false", str(modules / "site.pp"),
        ]  # fmt: skip
        user, password = self.amq.credentials(certname)
        (home / "stomp.password").touch(mode=0o600)
        (home / "stomp.password").write_text(password + "\n")
        self.configs[certname] = home / "agent.toml"
        self.configs[certname].write_text("\n".join([
            f'certname = "{certname}"', f"brokers = {json.dumps([self.amq.url])}",
            f"username = {json.dumps(user)}", 'password_file = "stomp.password"',
            'private_key = "keys/agent.key"', 'control_plane_public_key = "keys/control-plane.pub"',
            'state_dir = "state"', "heartbeat_ms = 2000", "[puppet]",
            f"command = {json.dumps(self.commands[certname])}",
            f'publicdir = "{pdirs["public"]}"', f'vardir = "{pdirs["var"]}"',
        ]) + "\n")  # fmt: skip
        agent_enroll(certname=certname, public_key=public,
                     token=enrollment_token_create(certname=certname, actor="admin"))

    def start_agent(self, certname):
        log = self.tmp / f"{certname}.agent.log"
        before = log.read_bytes().count(b'"connected"') if log.exists() else 0
        handle = open(log, "ab")  # noqa: SIM115 (the agent writes to it while it lives)
        self.agents[certname] = subprocess.Popen(
            [sys.executable, "-m", "orbiter_agent", "run", "--config", str(self.configs[certname])],
            stdout=handle, stderr=handle, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        wait_for(lambda: log.read_bytes().count(b'"connected"') > before or self.agents[certname].poll() is not None,
                 30, f"{certname}'s agent to connect")
        assert self.agents[certname].poll() is None, log.read_text()

    def version_on(self, certname) -> str:
        path = self.root / f"{certname}.version"
        return path.read_text().split()[1] if path.exists() else ""

    def logs(self) -> str:
        agents = "\n".join((self.tmp / f"{c}.agent.log").read_text()[-1200:] for c in self.certnames)
        return f"listener:\n{self.listener.tail()}\nagents:\n{agents}"

    def stop(self):
        for process in self.processes:
            process.stop()
        for agent in self.agents.values():
            if agent.poll() is None:
                agent.terminate()
                agent.wait(60)
        for state in (self.tmp / "hosts").glob("*/state/puppet.pid"):  # a run a killed agent left behind
            try:
                os.killpg(int(state.read_text().split()[0]), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


@pytest.fixture
def stack_factory(live_env, live_server, settings, tmp_path):
    missing = [w for w, ok in (("ActiveMQ", ActiveMQ.installed()), ("puppet", shutil.which("puppet"))) if not ok]
    if missing:
        if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{', '.join(missing)} required (ORBITER_REQUIRE_SERVICES=1) but not installed")
        pytest.skip(f"{', '.join(missing)} not installed: run the suite with ./lab/test")
    stacks = []
    with started(ActiveMQ(tmp_path / "amq")) as (amq,):
        def make(hosts, sleep=0):
            stacks.append(Stack(tmp_path, live_env, live_server, settings, amq, hosts, sleep))
            return stacks[-1]

        try:
            yield make
        finally:
            for stack in stacks:
                stack.stop()


def deploy(version, strategy):
    return services.deployment_create(application="shop-api", environment="cert", version=version,
                                      actor="alice", strategy=strategy).pk


def status(pk):
    return Deployment.objects.get(pk=pk)


def finish(stack, pk, timeout=180):
    return wait_for(lambda: Deployment.objects.filter(pk=pk, status__in=states.COMPLETED).first(), timeout,
                    f"deployment #{pk} to finish\n{stack.logs()}")


def test_a_version_reaches_every_host_through_agents_and_puppet(stack_factory):
    stack = stack_factory(hosts=2)
    for version in ("1.0.0-1", "1.1.0-1"):
        pk = deploy(version, {"batch_size": "2"})
        done = finish(stack, pk)

        assert done.status == states.SUCCEEDED, (done.message, stack.logs())
        assert [stack.version_on(c) for c in stack.certnames] == [version, version]
        hd = HostDeployment.objects.filter(deployment_id=pk).first()
        assert hd.puppet["kind"] == "changed" and hd.puppet["exit_code"] == 2


def test_a_rollout_rides_out_a_broker_restart_and_an_agent_killed_mid_run(stack_factory):
    stack = stack_factory(hosts=3, sleep=4)  # each changing run sleeps 4 s: time to kill it
    assert finish(stack, deploy("1.0.0-1", {"batch_size": "3"})).status == states.SUCCEEDED

    pk = deploy("1.1.0-1", {"batch_size": "1", "pause_between_batches": "until-resumed"})
    wait_for(lambda: status(pk).status == states.PAUSED, 120, f"the first batch\n{stack.logs()}")
    first, second, third = stack.certnames

    # Puppet runs on its own on a host whose turn has not come: it keeps its version.
    subprocess.run(stack.commands[third], check=False, capture_output=True, timeout=120)
    assert (stack.version_on(first), stack.version_on(third)) == ("1.1.0-1", "1.0.0-1")

    def connections(certname):
        return (stack.tmp / f"{certname}.agent.log").read_bytes().count(b'"event": "connected"')

    before = {c: connections(c) for c in stack.certnames}
    stack.amq.restart()  # agents and the listener must reconnect by themselves
    ready = time.monotonic()
    wait_for(lambda: all(connections(c) > before[c] for c in stack.certnames), 30, "every agent to reconnect")
    # their backoff (1 s doubling, jittered) brings them back within seconds of the broker,
    # not at their idle wait (30 s: every agent came back 30.2-30.3 s after a 7 s outage)
    assert time.monotonic() - ready < 12, f"agents back {time.monotonic() - ready:.1f}s after the broker"
    services.deployment_resume(deployment_id=pk, actor="alice")
    converging = wait_for(lambda: HostDeployment.objects.filter(deployment_id=pk, host__certname=second,
                                                                status=states.CONVERGING).first(), 60, "the second batch")
    started_line = f'"event": "request", "id": "{converging.request_id}"'.encode()
    wait_for(lambda: started_line in (stack.tmp / f"{second}.agent.log").read_bytes(), 60,
             f"the second host's agent to start {converging.request_id}")
    stack.agents[second].kill()  # SIGKILL mid-run
    stack.agents[second].wait(10)
    stack.start_agent(second)

    wait_for(lambda: status(pk).status == states.PAUSED, 180, f"the second batch after the kill\n{stack.logs()}")
    services.deployment_resume(deployment_id=pk, actor="alice")
    done = finish(stack, pk)

    assert done.status == states.SUCCEEDED, (done.message, stack.logs())
    assert [stack.version_on(c) for c in stack.certnames] == ["1.1.0-1"] * 3
    converged = {e.data["host"]: e.data["attempts"] for e in Event.objects.filter(deployment_id=pk, verb="host.verify")}
    assert converged[second] >= 2, "the killed run must have cost an attempt"
    assert converged[first] == converged[third] == 1
