"""The ENC script Puppet runs fetches the classification over HTTP with the token."""

import pytest
import yaml

from orbiter.catalog.models import Host
from orbiter_agent.enc import main as enc_main
from orbiter_agent.keys import generate_keypair
from tests.conftest import build_fleet
from tests.deployments.support import deploy, host

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_enc_script_prints_the_pinned_version(live_server, settings, tasks, tmp_path, capsys):
    settings.ORBITER_ENC_TOKEN = "enc-secret"
    (tmp_path / "token").write_text("enc-secret\n")
    build_fleet(hosts=1)
    Host.objects.update(agent_public_key=generate_keypair()[1])
    deploy(tasks, "1.1.0-1")

    code = enc_main([host(1), "--url", live_server.url, "--token-file", str(tmp_path / "token"),
                     "--config", str(tmp_path / "none.toml")])

    assert code == 0
    assert yaml.safe_load(capsys.readouterr().out)["classes"]["shop_api"]["version"] == "1.1.0-1"


def test_the_enc_script_fails_for_an_unknown_node_so_puppet_does_not_apply_an_empty_catalog(
    live_server, settings, tmp_path, capsys
):
    settings.ORBITER_ENC_TOKEN = "enc-secret"
    (tmp_path / "token").write_text("enc-secret")

    code = enc_main(["ghost.example.test", "--url", live_server.url, "--token-file", str(tmp_path / "token")])

    assert code == 1
    assert "404" in capsys.readouterr().err


def test_the_enc_script_reads_its_settings_from_its_config_file(live_server, settings, tasks, tmp_path, capsys):
    settings.ORBITER_ENC_TOKEN = "enc-secret"
    (tmp_path / "token").write_text("enc-secret")
    (tmp_path / "enc.toml").write_text(f'url = "{live_server.url}"\ntoken_file = "{tmp_path / "token"}"\n')
    build_fleet(hosts=1)
    Host.objects.update(agent_public_key=generate_keypair()[1])
    deploy(tasks, "1.0.0-1")

    assert enc_main([host(1), "--config", str(tmp_path / "enc.toml")]) == 0
    assert "1.0.0-1" in capsys.readouterr().out


def test_the_enc_script_without_a_url_says_where_to_set_it(tmp_path, capsys):
    assert enc_main(["h1.example.test", "--config", str(tmp_path / "none.toml")]) == 2
    assert "ORBITER_ENC_URL" in capsys.readouterr().err
