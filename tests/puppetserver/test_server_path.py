"""The real Puppet server path: `puppet agent` runs through the lab puppetserver, which
classifies the node with Orbiter's ENC (orbiter-enc, as the server runs it) and stores
facts, the catalog and the report in the lab PuppetDB."""

import json
import secrets
import ssl
import urllib.request

import pytest

from orbiter.catalog.models import Environment, Host
from orbiter_agent.keys import generate_keypair
from tests.conftest import build_fleet
from tests.deployments.support import deploy, host
from tests.integration.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MODULE = """class shop_api (String $version, String $package) {
  file { "%(root)s/${trusted['certname']}.version": ensure => file, content => "${package} ${version}\\n" }
}
"""


@pytest.fixture
def classified(puppetserver, live_server, settings, tasks, tmp_path):
    """One host of shop-api pinned at 1.1.0-1 in Orbiter, its own Puppet environment on the
    server holding the shop_api class, and the server's ENC aimed at this live control plane."""
    settings.ORBITER_ENC_TOKEN = token = secrets.token_urlsafe(16)
    puppet_env = f"smoke_{secrets.token_hex(4)}"
    puppetserver.environment(puppet_env, {"shop_api": MODULE % {"root": tmp_path}})
    puppetserver.point_enc(live_server.url, token)
    build_fleet(hosts=1)
    Environment.objects.filter(name="cert").update(puppet_environment=puppet_env)
    Host.objects.update(agent_public_key=generate_keypair()[1])
    deploy(tasks, "1.1.0-1")
    return puppetserver.node(host(1)), tmp_path


def test_an_agent_run_through_the_server_applies_the_version_orbiter_classified(classified):
    node, root = classified

    run = node.agent()

    assert run.returncode == 2, run.stdout + run.stderr  # --detailed-exitcodes: changes applied
    assert (root / f"{node.certname}.version").read_text() == "shop-api 1.1.0-1\n"


def test_the_run_stores_facts_catalog_and_report_in_puppetdb(classified, puppetdb):
    node, _ = classified
    assert node.agent().returncode == 2
    run = node.last_transaction_uuid()  # this run's, as the report and the catalog name it
    where = f'certname = "{node.certname}"'

    facts = puppetdb.query(f'facts[value] {{ {where} and name = "clientcert" }}')
    reports = wait_for(lambda: puppetdb.query(f'reports[status, producer] {{ transaction_uuid = "{run}" }}'),
                       60, "the report in PuppetDB")
    wait_for(lambda: puppetdb.query(f'catalogs[certname] {{ {where} and transaction_uuid = "{run}" }}'),
             60, "the catalog in PuppetDB")
    [shop_api] = puppetdb.query(f'resources[parameters] {{ {where} and type = "Class" and title = "Shop_api" }}')

    assert facts == [{"value": node.certname}]
    assert reports == [{"status": "changed", "producer": "puppet"}]
    assert shop_api["parameters"]["version"] == "1.1.0-1"


def test_an_unreachable_control_plane_fails_the_run_saying_so(puppetserver, tmp_path):
    puppetserver.point_enc("http://127.0.0.1:9", "no-token")  # nothing listens on port 9
    node = puppetserver.node(f"unreachable-{secrets.token_hex(3)}.lab.test")

    run = node.agent()

    assert run.returncode == 1
    assert "orbiter-enc: Orbiter unreachable" in run.stdout + run.stderr


def test_puppetdb_answers_a_client_certificate_signed_by_the_lab_ca_over_https(puppetdb):
    cert, key = puppetdb.client_cert()
    context = ssl.create_default_context(cafile=str(puppetdb.ca_file))
    context.load_cert_chain(cert, key)
    url = f"{puppetdb.puppetdb_ssl_url}/pdb/meta/v1/version"

    with urllib.request.urlopen(url, context=context, timeout=30) as response:
        assert json.load(response)["version"].startswith("7.")


def test_puppet_node_deactivate_marks_the_node_deactivated_in_puppetdb(puppetserver):
    node = puppetserver.node(f"gone-{secrets.token_hex(3)}.lab.test")
    puppetserver.point_enc("http://127.0.0.1:9", "no-token")
    node.agent()  # fails at classification, after the facts reached PuppetDB
    where = f'certname = "{node.certname}"'
    wait_for(lambda: puppetserver.query(f"nodes[certname] {{ {where} }}"), 60, "the node in PuppetDB")

    assert puppetserver.deactivate(node.certname).returncode == 0

    wait_for(lambda: not puppetserver.query(f"nodes[certname] {{ {where} }}"), 60, "the node to go")
    [gone] = puppetserver.query(f'nodes[deactivated] {{ {where} and node_state = "any" }}')
    assert gone["deactivated"]
