"""A rollout through the real Puppet server: 3 hosts, each a real Orbiter agent over the lab
ActiveMQ whose Puppet runs are `puppet agent` against the lab puppetserver (server mode),
classified by Orbiter's ENC as the server runs it; the reports land in the lab PuppetDB."""

import json
from datetime import UTC, datetime

import pytest

from orbiter.catalog.models import Environment
from orbiter.deployments import services, states
from orbiter.deployments.models import HostDeployment
from tests.integration.support import wait_for
from tests.integration.test_agents_end_to_end import Stack, deploy, finish, status
from tests.puppetserver.conftest import serve_shop_api

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class ServerStack(Stack):
    """The masterless end-to-end stack (worker, beat, listener, one agent per host), each
    agent in server mode: [puppet] server = the lab puppetserver, its node's confdir."""

    def __init__(self, puppetserver, tmp_path, live_env, live_server, settings, amq, hosts):
        self.puppet_lab, self.nodes = puppetserver, {}
        super().__init__(tmp_path, live_env, live_server, settings, amq, hosts, sleep=0)
        puppet_env = serve_shop_api(puppetserver, live_server, settings, self.root)
        Environment.objects.filter(name="cert").update(puppet_environment=puppet_env)

    def _configure(self, certname, enc, modules):
        super()._configure(certname, enc, modules)
        node = self.nodes[certname] = self.puppet_lab.node(certname)
        self.commands[certname] = node.agent_command()  # Puppet on its own, as cron would run it
        text = self.configs[certname].read_text()
        server_mode = "\n".join([
            'server = "127.0.0.1"', f"server_port = {node.server.port}",
            f"confdir = {json.dumps(str(node.confdir))}",
            f"publicdir = {json.dumps(str(node.publicdir))}", f"vardir = {json.dumps(str(node.vardir))}",
        ])  # fmt: skip
        self.configs[certname].write_text(text[:text.index("[puppet]\n")] + "[puppet]\n" + server_mode + "\n")


def test_a_rollout_through_the_server_installs_each_hosts_pinned_version(
    puppetserver, live_env, live_server, settings, broker, tmp_path
):
    began = datetime.now(UTC).isoformat()
    stack = ServerStack(puppetserver, tmp_path, live_env, live_server, settings, broker, hosts=3)
    try:
        first, second, third = stack.certnames
        done = finish(stack, deploy("1.0.0-1", {"batch_size": "3"}))
        assert done.status == states.SUCCEEDED, (done.message, stack.logs())
        assert [stack.version_on(c) for c in stack.certnames] == ["1.0.0-1"] * 3

        pk = deploy("1.1.0-1", {"batch_size": "1", "pause_between_batches": "until-resumed"})
        wait_for(lambda: status(pk).status == states.PAUSED, 120, f"the first batch\n{stack.logs()}")
        # Puppet runs on its own through the server on a host whose turn has not come.
        alone = stack.nodes[third].agent()
        assert alone.returncode == 0, alone.stdout + alone.stderr  # nothing to change
        assert (stack.version_on(first), stack.version_on(third)) == ("1.1.0-1", "1.0.0-1")

        for _ in range(2):  # after the first and the second batch
            services.deployment_resume(deployment_id=pk, actor="alice")
            wait_for(lambda: status(pk).status in (states.PAUSED, *states.COMPLETED), 180,
                     f"the next batch\n{stack.logs()}")
        done = finish(stack, pk)
    finally:
        stack.stop()

    assert done.status == states.SUCCEEDED, (done.message, stack.logs())
    assert [stack.version_on(c) for c in stack.certnames] == ["1.1.0-1"] * 3
    runs = HostDeployment.objects.filter(deployment_id=pk).values_list("puppet", flat=True)
    assert {(run["kind"], run["exit_code"]) for run in runs} == {("changed", 2)}
    for certname in stack.certnames:  # two changing runs each, and the third host's own run
        reports = wait_for(lambda c=certname: puppetserver.query(
            f'reports[status] {{ certname = "{c}" and receive_time > "{began}" }}'), 60, f"{certname}'s reports")
        assert sorted(r["status"] for r in reports) == (["changed", "changed", "unchanged"] if certname == third
                                                         else ["changed", "changed"])
