"""A real ActiveMQ (lab.services, secured as in production: each agent logs in as its
certname, the control plane as itself) and real `puppet apply` for the agent daemon's tests.

Without them the integration tests are skipped with the reason; with
ORBITER_REQUIRE_SERVICES=1 (./lab/test, CI) a missing one is an error.
"""

import os
import shutil

import pytest

from lab.services import ActiveMQ, started
from tests.agent_daemon.support import ControlPlane, Host, write_module

MANIFEST = "class {{ 'testapp': root => '{root}', version => '1.2.3' }}"


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required (ORBITER_REQUIRE_SERVICES=1) but not installed")
    pytest.skip(f"{what} not installed: run the suite with ./lab/test")


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    _require("ActiveMQ (apt-get install activemq default-jdk-headless)", ActiveMQ.installed())
    _require("Puppet (apt-get install puppet-agent)", shutil.which("puppet") is not None)
    with started(ActiveMQ(tmp_path_factory.mktemp("amq"))) as (mq,):
        yield mq


@pytest.fixture(scope="session")
def stomp_url(broker):
    return broker.url


@pytest.fixture(scope="session")
def modulepath(tmp_path_factory):
    return write_module(tmp_path_factory.mktemp("modules"))


@pytest.fixture
def control_plane(broker):
    cp = ControlPlane(broker.url, broker.control_plane)
    yield cp
    cp.close()


@pytest.fixture
def make_host(broker, modulepath, tmp_path):
    """make_host(manifest=..., brokers=[...], **puppet_settings): a host, its agent running."""
    hosts = []

    def make(manifest: str = MANIFEST, brokers: list[str] | None = None, **puppet) -> Host:
        host = Host(tmp_path, brokers or [broker.url], modulepath, manifest,
                    credentials=broker.credentials, **puppet)
        hosts.append(host)
        host.start()
        return host

    yield make
    for host in hosts:
        host.stop()
        host.kill_leftover_puppet()


@pytest.fixture
def host(make_host) -> Host:
    return make_host()
