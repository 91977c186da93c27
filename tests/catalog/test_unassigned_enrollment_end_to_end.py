"""From the host's side to the admin's: `orbiter-agent enroll` (the real command, over HTTP
to a live server) under a certname Orbiter does not list prints a fingerprint; the admin
finds the same fingerprint in `orbiter hosts unassigned`, assigns the host with it, and the
key the agent signs with is trusted."""

import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from orbiter.catalog.models import Host
from orbiter_agent.protocol import generate_keypair, write_private_key, write_public_key
from tests.conftest import build_fleet

AGENT = Path(sys.executable).with_name("orbiter-agent")
NEW = "new-01.example.test"


@pytest.fixture
def agent_config(tmp_path) -> Path:
    write_private_key(tmp_path / "agent.key", generate_keypair()[0])
    write_public_key(tmp_path / "control-plane.pub", generate_keypair()[1])
    path = tmp_path / "agent.toml"
    path.write_text(f'certname = "{NEW}"\nbrokers = ["stomp://127.0.0.1:61613"]\nprivate_key = "agent.key"\n'
                    'control_plane_public_key = "control-plane.pub"\nstate_dir = "state"\n')
    return path


def hosts(*argv: str) -> str:
    out = StringIO()
    call_command("hosts", *argv, stdout=out)
    return out.getvalue()


def test_an_agent_enrolled_before_its_host_was_listed_is_assigned_by_its_fingerprint(
        transactional_db, live_server, agent_config):
    build_fleet(hosts=1)

    enrolled = subprocess.run([str(AGENT), "enroll", "--config", str(agent_config), "--url", live_server.url],
                              capture_output=True, text=True, timeout=60, check=False)

    assert enrolled.returncode == 0, enrolled.stderr
    shown = re.search(r"^fingerprint: (SHA256:\S+)$", enrolled.stdout, flags=re.M).group(1)
    assert f"orbiter hosts assign {NEW} --environment ENV --fingerprint {shown}" in enrolled.stdout
    [line] = [line for line in hosts("unassigned").splitlines() if line.startswith(NEW)]
    assert shown in line

    hosts("assign", NEW, "--environment", "cert", "--application", "shop-api", "--fingerprint", shown, "--as", "ada")

    host = Host.objects.get(certname=NEW)
    assert host.agent_public_key and not host.agent_key_pending
    assert NEW not in hosts("unassigned")
    again = subprocess.run([str(AGENT), "enroll", "--config", str(agent_config), "--url", live_server.url],
                           capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0 and f"fingerprint: {shown}" in again.stdout
    assert Host.objects.get(certname=NEW).agent_key_pending == ""  # the same key again: nothing waits


def test_a_batch_of_new_hosts_takes_the_keys_of_those_that_offered_and_drops_rejected_ones(
        transactional_db, client):
    from orbiter.catalog import unassigned
    from orbiter.catalog.models import UnassignedHost

    app, env = build_fleet(hosts=0)
    keys = {}
    for name in ("a-01.example.test", "b-01.example.test"):
        keys[name] = generate_keypair()[1]
        client.post("/agents/enroll", {"certname": name, "public_key": keys[name]}, content_type="application/json")
    unassigned.unassigned_reject(certname="b-01.example.test", actor="ada")
    names = ["a-01.example.test", "b-01.example.test", "c-01.example.test"]

    for name in names:  # as a PuppetDB sync would, in bulk: Hosts first, then one claim for the batch
        Host.objects.create(certname=name, environment=env)
    taken = unassigned.unassigned_claim(names)

    assert taken == {"a-01.example.test": keys["a-01.example.test"]}
    assert dict(Host.objects.values_list("certname", "agent_key_pending")) == {
        "a-01.example.test": keys["a-01.example.test"], "b-01.example.test": "", "c-01.example.test": ""}
    assert not UnassignedHost.objects.exists()

