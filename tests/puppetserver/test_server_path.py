"""The real Puppet server path: `puppet agent` runs through the lab puppetserver, which
classifies the node with Orbiter's ENC (orbiter-enc, as the server runs it) and stores
facts, the catalog and the report in the lab PuppetDB."""

import json
import secrets
import ssl
import urllib.request

import pytest

from tests.integration.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

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


def test_the_server_and_puppetdb_start_once_and_every_test_shares_them(puppetserver, puppetdb):
    server, db = puppetserver.puppetserver(), puppetdb.puppetdb()

    assert puppetserver is puppetdb  # one lab
    assert (puppetserver.puppetserver().proc.pid, puppetdb.puppetdb().proc.pid) == (server.proc.pid, db.proc.pid)
    assert server.proc.poll() is None and db.proc.poll() is None
