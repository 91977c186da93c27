"""The lab's Puppet server path starts nothing until asked, and refuses bad names before
anything runs (the services themselves: tests/puppetserver/)."""

import pytest

from lab.puppetlab import PuppetLab, PuppetNode
from lab.services import PuppetDB, PuppetServer


def test_a_lab_nobody_asks_for_starts_nothing_and_closes_quietly(tmp_path):
    lab = PuppetLab(tmp_path / "lab", database_url="postgresql://postgres@127.0.0.1:1/none")

    lab.close()

    assert not (tmp_path / "lab").exists() and lab.startup_s == {}


@pytest.mark.parametrize("certname", ["--server=evil", "Web01.example.test", "a b", ""])
def test_a_node_or_certificate_with_a_bad_certname_is_refused_before_anything_runs(tmp_path, certname):
    server = PuppetServer(tmp_path, puppetdb_url="https://127.0.0.1:1")

    with pytest.raises(ValueError, match="certname"):
        PuppetNode(server, certname, tmp_path / "node")
    with pytest.raises(ValueError, match="certname"):
        server.issue_cert(certname, tmp_path / "tls")
    assert not (tmp_path / "puppetserver").exists()


def test_puppetdb_without_its_certificate_is_refused_naming_the_settings(tmp_path):
    db = PuppetDB(tmp_path, database_url="postgresql://postgres@127.0.0.1:1/none")

    with pytest.raises(RuntimeError, match="ca_file, cert_file and key_file must be files"):
        db.start()
    db.stop()
