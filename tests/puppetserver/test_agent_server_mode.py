"""The Orbiter agent in server mode (`[puppet] server = ...`): its Puppet runs are
`puppet agent --server ...` through the real lab puppetserver, classified and summarised
as in masterless mode."""

import pytest

from orbiter_agent.config import ConfigError, parse_config
from orbiter_agent.puppet import PuppetRunner

BASE = {"certname": "web-01.example.test", "brokers": ["stomp://mq.example.test:61613"],
        "private_key": "agent.key", "control_plane_public_key": "cp.pub", "state_dir": "state"}


def puppet_config(**puppet):
    return parse_config({**BASE, "puppet": puppet}).puppet


def runner_for(node, tmp_path) -> PuppetRunner:
    config = puppet_config(server="127.0.0.1", server_port=node.server.port, confdir=str(node.confdir),
                           publicdir=str(node.publicdir), vardir=str(node.vardir))
    return PuppetRunner(config, tmp_path / "agent-state")


def test_server_mode_runs_puppet_agent_against_the_server_with_its_own_confdir_and_ssldir():
    config = puppet_config(server="puppet.example.test", server_port=8141, confdir="/etc/puppet",
                           ssldir="/etc/puppet/ssl")

    assert config.command == ("puppet", "agent", "--onetime", "--no-daemonize", "--detailed-exitcodes",
                              "--logdest", "console", "--no-usecacheonfailure", "--server", "puppet.example.test",
                              "--serverport", "8141", "--confdir", "/etc/puppet", "--ssldir", "/etc/puppet/ssl")


def test_the_default_command_never_applies_a_cached_catalog_and_logs_to_its_output():
    assert {"--no-usecacheonfailure", "--logdest"} <= set(puppet_config().command)


@pytest.mark.parametrize(("puppet", "message"), [
    ({"server": "--config=/tmp/evil"}, "puppet.server must be a host name or IPv4 address"),
    ({"server": "puppet.example.test", "server_port": 0}, "puppet.server_port must be a port number"),
    ({"server": "puppet.example.test", "server_port": "8140"}, "puppet.server_port must be a port number"),
    ({"server": "puppet.example.test", "command": ["puppet", "apply"]}, "give one of them, not both"),
    ({"server_port": 8140}, "puppet.server_port needs puppet.server"),
    ({"confdir": "/etc/puppet"}, "puppet.confdir needs puppet.server"),
])
def test_a_bad_server_mode_setting_is_refused_naming_it(puppet, message):
    with pytest.raises(ConfigError) as refused:
        puppet_config(**puppet)

    assert message in str(refused.value)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_run_through_the_server_reports_its_changes_from_puppets_summary(classified, tmp_path):
    node, root = classified
    runner = runner_for(node, tmp_path)

    changed = runner.run(noop=False, tags=[], timeout_s=300)
    again = runner.run(noop=True, tags=["shop_api"], timeout_s=300)

    assert (changed.status, changed.kind, changed.exit_code) == ("ok", "changed", 2), changed.output_tail
    assert changed.resources["changed"] == 1 and changed.report_status == "changed"
    assert changed.puppet_version.startswith("7.")
    assert (root / f"{node.certname}.version").read_text() == "shop-api 1.1.0-1\n"
    assert (again.kind, again.noop, again.tags, again.exit_code) == ("unchanged", True, ["shop_api"], 0)
    assert runner.facts()["last_run"]["resources"]["changed"] == 0


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_control_plane_down_during_a_server_run_is_an_outage_not_a_failure_of_the_host(
    classified, tmp_path, puppetserver
):
    node, _ = classified
    puppetserver.point_enc("http://127.0.0.1:9", "no-token")  # nothing listens on port 9

    result = runner_for(node, tmp_path).run(noop=False, tags=[], timeout_s=300)

    assert (result.status, result.kind) == ("transient", "enc_unreachable"), result.output_tail
