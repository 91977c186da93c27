"""An agent's key is trusted only through a one-time token or an admin's fingerprint check."""

import pytest

from orbiter.catalog.agents import (
    agent_enroll,
    agent_key_approve,
    enrollment_token_create,
    fingerprint,
)
from orbiter.catalog.models import Host
from orbiter.common.errors import OrbiterError
from orbiter_agent.keys import generate_keypair
from tests.conftest import build_fleet
from tests.deployments.support import host

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return generate_keypair()[1]


def trusted(certname):
    return Host.objects.get(certname=certname).agent_public_key


def test_a_valid_token_trusts_the_key_at_once(key):
    build_fleet(hosts=1)
    token = enrollment_token_create(certname=host(1), actor="admin")

    assert agent_enroll(certname=host(1), public_key=key, token=token) == "trusted"
    assert trusted(host(1)) == key


def test_a_token_works_once(key):
    build_fleet(hosts=1)
    token = enrollment_token_create(certname=host(1), actor="admin")
    agent_enroll(certname=host(1), public_key=key, token=token)

    with pytest.raises(OrbiterError, match="unknown, used or expired"):
        agent_enroll(certname=host(1), public_key=generate_keypair()[1], token=token)
    assert trusted(host(1)) == key


def test_a_token_for_another_host_is_refused(key):
    build_fleet(hosts=2)
    token = enrollment_token_create(certname=host(2), actor="admin")

    with pytest.raises(OrbiterError):
        agent_enroll(certname=host(1), public_key=key, token=token)
    assert trusted(host(1)) == ""


def test_without_a_token_the_key_waits_for_an_admin_who_checks_the_fingerprint(key):
    build_fleet(hosts=1)

    assert agent_enroll(certname=host(1), public_key=key) == "pending"
    assert trusted(host(1)) == ""
    with pytest.raises(OrbiterError, match="fingerprint mismatch"):
        agent_key_approve(certname=host(1), expected_fingerprint="SHA256:wrong", actor="admin")

    agent_key_approve(certname=host(1), expected_fingerprint=fingerprint(key), actor="admin")
    assert trusted(host(1)) == key


def test_the_enroll_endpoint_answers_with_the_status_and_fingerprint(client, key):
    build_fleet(hosts=1)
    token = enrollment_token_create(certname=host(1), actor="admin")

    response = client.post("/agents/enroll", {"certname": host(1), "public_key": key, "token": token},
                           content_type="application/json")

    assert response.status_code == 200
    assert response.json() == {"status": "trusted", "fingerprint": fingerprint(key)}


def test_the_enroll_endpoint_refuses_garbage_naming_the_field(client):
    build_fleet(hosts=1)

    response = client.post("/agents/enroll", {"certname": host(1), "public_key": "not a key"},
                           content_type="application/json")

    assert response.status_code == 400
    assert response.json()["message"].startswith("public_key:")
