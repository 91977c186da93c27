"""Fixtures of the Puppet server path tests; the services themselves (the session-wide
`puppetserver` and `puppetdb`) come from tests/puppetlab.py."""

import secrets

import pytest

from orbiter.catalog.models import Environment, Host
from orbiter_agent.keys import generate_keypair
from tests.conftest import build_fleet
from tests.deployments.support import deploy, host
from tests.integration.conftest import broker, live_env  # noqa: F401 - the integration fixtures, here too

# The version-file stand-in of the masterless tests (tests/integration/test_agents_end_to_end.py).
MODULE = """class shop_api (String $version, String $package) {
  file { "%(root)s/${trusted['certname']}.version": ensure => file, content => "${package} ${version}\\n" }
}
"""


def serve_shop_api(puppetserver, live_server, settings, root) -> str:
    """A Puppet environment of its own on the server holding the shop_api class (writing
    ROOT/<certname>.version), the server's ENC aimed at this live control plane; returns
    the environment's name, for Orbiter's environment to set as its puppet_environment."""
    settings.ORBITER_ENC_TOKEN = token = secrets.token_urlsafe(16)
    puppet_env = f"t_{secrets.token_hex(4)}"
    puppetserver.environment(puppet_env, {"shop_api": MODULE % {"root": root}})
    puppetserver.point_enc(live_server.url, token)
    return puppet_env


@pytest.fixture
def classified(puppetserver, live_server, settings, tasks, tmp_path):
    """One host of shop-api pinned at 1.1.0-1 in Orbiter, classified by the server's ENC,
    with its Puppet node (certificate signed by the lab CA); and where versions land."""
    puppet_env = serve_shop_api(puppetserver, live_server, settings, tmp_path)
    build_fleet(hosts=1)
    Environment.objects.filter(name="cert").update(puppet_environment=puppet_env)
    Host.objects.update(agent_public_key=generate_keypair()[1])
    deploy(tasks, "1.1.0-1")
    return puppetserver.node(host(1)), tmp_path
