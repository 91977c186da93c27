"""Host sources on the real Puppet server path: nodes run `puppet agent` through the lab
puppetserver, which stores their facts (and, once Orbiter classifies them, catalogs) in the
lab PuppetDB; the source reads that PuppetDB over HTTPS with the lab CA and a client
certificate.

Each test run gives its nodes a fact of its own (orbiter_env = inv-…, through Facter's
FACTER_ environment variables), so tests sharing the session's PuppetDB do not see each
other's nodes."""

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

from orbiter.catalog import services as catalog
from orbiter.catalog.models import Host
from orbiter.deployments import services as deployments
from orbiter.deployments import states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.inventory import services as inventory
from orbiter.inventory.models import HostSource
from orbiter.inventory.puppetdb import PuppetDBError
from orbiter.inventory.sync import source_sync
from orbiter.loadbalancers.models import Pool
from orbiter_agent.keys import generate_keypair
from tests.integration.support import wait_for
from tests.inventory.support import members_of, pins_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MODULE = """class shop_api (String $version, String $package) {
  file { "%(root)s/${trusted['certname']}.version": ensure => file, content => "${package} ${version}\\n" }
}
"""


@pytest.fixture
def lab(puppetserver, live_server, settings, monkeypatch, tmp_path):
    """The lab server's ENC aimed at this control plane; shop-api in `production` (its own
    Puppet environment holding the shop_api class), a pool; the nodes' facts; a source over
    HTTPS selecting this run's nodes."""
    run = f"inv-{secrets.token_hex(3)}"
    settings.ORBITER_ENC_TOKEN = token = secrets.token_urlsafe(16)
    puppet_env = f"inventory_{run.replace('-', '_')}"
    puppetserver.environment(puppet_env, {"shop_api": MODULE % {"root": tmp_path}})
    puppetserver.point_enc(live_server.url, token)
    monkeypatch.setenv("FACTER_orbiter_env", run)  # read by the agents this test runs
    monkeypatch.setenv("FACTER_role", "shop")
    monkeypatch.setenv("FACTER_dc", "lab1")
    app = catalog.application_create(name="shop-api", package="shop-api", actor="setup", converge_driver="simulated",
                                     converge_options={"duration_s": 0}, health_driver="simulated",
                                     rollout_defaults={"retry_backoff_s": 0, "drain_timeout_s": 1})
    env = catalog.environment_create(name="production", order=0, actor="setup", puppet_environment=puppet_env)
    for version in ("1.0.0-1", "1.1.0-1", "1.2.0-1"):
        catalog.artifact_register(application=app, nevra=f"shop-api-{version}.noarch", actor="setup")
    Pool.objects.create(name="shop-prod", application=app, environment=env, member_template="{hostname}")
    cert, key = puppetserver.client_cert()
    source = inventory.hostsource_create(
        name="prod", environment=env, actor="setup", url=puppetserver.puppetdb_ssl_url, ca_file=str(puppetserver.ca_file),
        cert_file=str(cert), key_file=str(key),
        query=f'nodes[certname] {{ facts {{ name = "orbiter_env" and value = "{run}" }} }}',
        facts=["os.family", "ipaddress"], labels={"datacenter": "dc"},
        applications=[{"application": "shop-api", "fact": "role", "value": "shop"},
                      {"application": "shop-api", "class": "Shop_api"}])
    return puppetserver, source, run, tmp_path


def certname(run: str, n: int) -> str:
    return f"web-{n:02d}.{run}.lab.test"


def enroll(*certnames: str) -> None:
    """Their agents enrolled (the ENC answers enrolled hosts only)."""
    Host.objects.filter(certname__in=certnames).update(agent_public_key=generate_keypair()[1])


def in_puppetdb(puppetdb, run: str) -> set[str]:
    return {row["certname"] for row in
            puppetdb.query(f'nodes[certname] {{ facts {{ name = "orbiter_env" and value = "{run}" }} }}')}


def status(deployment) -> str:
    return Deployment.objects.values_list("status", flat=True).get(pk=deployment.pk)


def test_a_source_follows_puppetdb_fed_by_real_agent_runs(lab, puppetdb, tasks):
    server, source, run, root = lab
    first = [server.node(certname(run, n)) for n in (1, 2, 3)]
    with ThreadPoolExecutor(3) as pool:  # unknown to Orbiter: classification fails, the facts are stored
        list(pool.map(lambda node: node.agent(), first))
    wait_for(lambda: in_puppetdb(puppetdb, run) == {n.certname for n in first}, 60, "3 nodes in PuppetDB")

    # The source discovers them over HTTPS, with the lab CA and a client certificate.
    diff = source_sync(source, actor="alice")
    assert diff.created == sorted(n.certname for n in first)
    host = Host.objects.get(certname=certname(run, 1))
    assert (host.labels, members_of(host.certname)) == ({"datacenter": "lab1"}, ["shop-prod/web-01"])

    # Production runs 1.1.0-1 on them (a deployment, simulated converge).
    deployment = deployments.deployment_create(application="shop-api", environment="production",
                                               version="1.1.0-1", actor="dora")
    tasks.run_until(lambda: status(deployment) == states.SUCCEEDED, timeout=60)

    # A fourth node appears later: it joins at 1.1.0-1, and the ENC answers that version.
    fourth = server.node(certname(run, 4))
    fourth.agent()
    wait_for(lambda: fourth.certname in in_puppetdb(puppetdb, run), 60, "the fourth node in PuppetDB")
    assert source_sync(source, actor="alice").created == [fourth.certname]
    assert pins_of(fourth.certname) == {"shop-api": "1.1.0-1"}
    enroll(fourth.certname)
    applied = fourth.agent()
    assert applied.returncode == 2, applied.stdout + applied.stderr  # changes applied
    assert (root / f"{fourth.certname}.version").read_text() == "shop-api 1.1.0-1\n"

    # Its catalog (class Shop_api) is now in PuppetDB: the class rule agrees with the fact rule.
    wait_for(lambda: puppetdb.query(f'resources[title] {{ certname = "{fourth.certname}" and type = "Class" '
                                    'and title = "Shop_api" }'), 60, "the fourth node's catalog")
    assert source_sync(source, actor="alice").updated == []


def test_a_deactivated_node_is_retired_only_after_the_running_deployment_ends(lab, puppetdb, tasks):
    server, source, run, _ = lab
    nodes = [server.node(certname(run, n)) for n in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda node: node.agent(), nodes))
    wait_for(lambda: len(in_puppetdb(puppetdb, run)) == 2, 60, "2 nodes in PuppetDB")
    source_sync(source, actor="alice")
    deployment = deployments.deployment_create(application="shop-api", environment="production",
                                               version="1.2.0-1", actor="dora",
                                               strategy={"pause_between_batches": "until-resumed"})
    tasks.run_until(lambda: HostDeployment.objects.filter(deployment=deployment, status=states.DONE).exists(),
                    timeout=60)
    gone = nodes[1].certname

    assert server.deactivate(gone).returncode == 0
    wait_for(lambda: gone not in in_puppetdb(puppetdb, run), 60, "the node deactivated in PuppetDB")

    diff = source_sync(source, actor="alice")
    assert (diff.retired, diff.retire_waiting) == ([], [gone])
    assert Host.objects.get(certname=gone).retired_at is None

    deployments.deployment_cancel(deployment_id=deployment.pk, actor="dora")
    tasks.run_until(lambda: status(deployment) == states.CANCELLED, timeout=60)

    assert source_sync(source, actor="alice").retired == [gone]
    retired = Host.objects.get(certname=gone)
    assert retired.retired_at is not None and members_of(gone) == [] and pins_of(gone) == {}


def test_a_puppetdb_that_cannot_be_read_changes_nothing(lab, puppetdb, live_server):
    server, source, run, _ = lab
    node = server.node(certname(run, 1))
    node.agent()
    wait_for(lambda: in_puppetdb(puppetdb, run), 60, "the node in PuppetDB")
    source_sync(source, actor="alice")
    good = HostSource.objects.get().last_success_at

    for url, says in (("http://127.0.0.1:9", "connection refused"),  # nothing listens: PuppetDB stopped
                      (live_server.url, "HTTP 404"),  # something else answers: not PuppetDB's rows
                      (puppetdb.puppetdb_ssl_url.replace("https", "http"), "")):  # TLS port spoken to in clear
        HostSource.objects.update(url=url, ca_file="", cert_file="", key_file="")
        with pytest.raises(PuppetDBError) as failed:
            source_sync(source, actor="alice")
        assert says in failed.value.message
        stored = HostSource.objects.get()
        assert (stored.last_success_at, stored.last_error) == (good, failed.value.message)
        assert Host.objects.get(certname=node.certname).retired_at is None
