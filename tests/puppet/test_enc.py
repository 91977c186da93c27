"""Puppet asks Orbiter which version each node runs: GET /puppet/enc/<certname>."""

import pytest
import yaml
from django.core.management import call_command

from orbiter.catalog.models import Host
from orbiter.deployments import states
from tests.conftest import build_fleet
from tests.deployments.support import deploy, host, request, run_until_status

pytestmark = pytest.mark.django_db(transaction=True)


def enc(client, certname, **headers):
    return client.get(f"/puppet/enc/{certname}", **headers)


@pytest.fixture(autouse=True)
def enrolled(request):
    """Hosts get an agent key once built: the ENC answers only for enrolled hosts."""
    from orbiter_agent.keys import generate_keypair

    def enroll_all():
        for host_ in Host.objects.filter(agent_public_key=""):
            Host.objects.filter(pk=host_.pk).update(agent_public_key=generate_keypair()[1])

    return enroll_all


def test_a_node_is_classified_with_the_version_it_is_pinned_to(client, tasks, enrolled):
    build_fleet(hosts=2)
    enrolled()
    deploy(tasks, "1.0.0-1")

    response = enc(client, host(1))

    assert response.status_code == 200
    assert yaml.safe_load(response.content) == {
        "classes": {"shop_api": {"version": "1.0.0-1", "package": "shop-api"}},
        "parameters": {"orbiter_environment": "cert", "orbiter_pins": {"shop-api": "1.0.0-1"}},
    }


def test_a_host_whose_turn_has_not_come_keeps_its_version(client, tasks, enrolled):
    build_fleet(hosts=2)
    enrolled()
    deploy(tasks, "1.0.0-1")
    run_until_status(
        tasks, request("1.1.0-1", strategy={"batch_size": "1", "pause_between_batches": "until-resumed"}),
        states.PAUSED,
    )

    first = yaml.safe_load(enc(client, host(1)).content)
    second = yaml.safe_load(enc(client, host(2)).content)

    assert first["classes"]["shop_api"]["version"] == "1.1.0-1"
    assert second["classes"]["shop_api"]["version"] == "1.0.0-1"


def test_a_node_nothing_was_deployed_to_yet_gets_no_class(client, enrolled):
    build_fleet(hosts=1)
    enrolled()

    assert yaml.safe_load(enc(client, host(1)).content)["classes"] == {}


def test_an_unknown_node_is_a_404_naming_it(client):
    response = enc(client, "nobody.example.test")

    assert response.status_code == 404
    assert b"nobody.example.test" in response.content


def test_a_malformed_certname_is_refused(client):
    response = enc(client, "Bad_Name")

    assert response.status_code == 400
    assert b"certname" in response.content


def test_a_host_without_an_enrolled_agent_is_refused(client):
    build_fleet(hosts=1)

    response = enc(client, host(1))

    assert response.status_code == 403
    assert b"enroll" in response.content


def test_a_client_certificate_header_opens_only_the_node_it_names(client, settings, enrolled):
    build_fleet(hosts=2)
    enrolled()
    settings.ORBITER_ENC_TOKEN = "s3cret-token"
    settings.ORBITER_ENC_CERT_HEADER = "X-Client-Cert-CN"

    assert enc(client, host(1), HTTP_X_CLIENT_CERT_CN=host(1)).status_code == 200
    assert enc(client, host(2), HTTP_X_CLIENT_CERT_CN=host(1)).status_code == 401


def test_in_server_mode_the_enc_refuses_to_answer_without_any_authentication_configured(client, settings, enrolled):
    build_fleet(hosts=1)
    enrolled()
    settings.MODE = "server"

    assert enc(client, host(1)).status_code == 503


def test_with_a_token_configured_the_enc_requires_it(client, settings, enrolled):
    build_fleet(hosts=1)
    enrolled()
    settings.ORBITER_ENC_TOKEN = "s3cret-token"

    assert enc(client, host(1)).status_code == 401
    assert enc(client, host(1), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert enc(client, host(1), HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_the_enc_command_prints_the_same_classification(capsys, tasks, client, enrolled):
    build_fleet(hosts=1)
    enrolled()
    deploy(tasks, "1.0.0-1")

    call_command("enc", host(1))

    assert yaml.safe_load(capsys.readouterr().out) == yaml.safe_load(enc(client, host(1)).content)
