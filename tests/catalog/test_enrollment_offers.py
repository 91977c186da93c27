"""POST /agents/enroll is answered before anyone is authenticated: an anonymous offer cannot
replace a pending key nor tell whether a host exists, and hostile bodies get a 400 naming the
field, with nothing written."""

import json

import pytest

from orbiter.audit.models import Event
from orbiter.catalog.agents import agent_key_approve, enrollment_token_create, fingerprint
from orbiter.catalog.models import Host
from orbiter_agent.keys import generate_keypair
from tests.conftest import build_fleet
from tests.deployments.support import host

pytestmark = pytest.mark.django_db

UNKNOWN = "nobody.example.test"


def offer(client, body):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/agents/enroll", raw, content_type="application/json")


def pending(certname):
    return Host.objects.get(certname=certname).agent_key_pending


def new_key():
    return generate_keypair()[1]


def test_an_anonymous_offer_does_not_replace_the_key_waiting_for_approval(client):
    build_fleet(hosts=1)
    genuine, attacker = new_key(), new_key()
    assert offer(client, {"certname": host(1), "public_key": genuine}).json()["status"] == "pending"

    response = offer(client, {"certname": host(1), "public_key": attacker})

    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert pending(host(1)) == genuine
    agent_key_approve(certname=host(1), expected_fingerprint=fingerprint(genuine), actor="admin")
    assert Host.objects.get(certname=host(1)).agent_public_key == genuine


def test_an_offer_with_a_token_still_replaces_a_pending_key(client):
    build_fleet(hosts=1)
    offer(client, {"certname": host(1), "public_key": new_key()})
    key, token = new_key(), enrollment_token_create(certname=host(1), actor="admin")

    response = offer(client, {"certname": host(1), "public_key": key, "token": token})

    assert response.json()["status"] == "trusted"
    assert Host.objects.get(certname=host(1)).agent_public_key == key and pending(host(1)) == ""


@pytest.mark.parametrize("slot", ["empty", "taken"])
def test_an_anonymous_offer_for_an_unknown_host_is_answered_like_one_for_a_known_host(client, slot):
    build_fleet(hosts=1)
    if slot == "taken":
        offer(client, {"certname": host(1), "public_key": new_key()})
    key = new_key()

    known = offer(client, {"certname": host(1), "public_key": key})
    unknown = offer(client, {"certname": UNKNOWN, "public_key": key})

    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    assert not Host.objects.filter(certname=UNKNOWN).exists()


def test_a_bad_token_for_an_unknown_host_is_refused_like_one_for_a_known_host(client):
    build_fleet(hosts=1)
    key = new_key()

    known = offer(client, {"certname": host(1), "public_key": key, "token": "guess"})
    unknown = offer(client, {"certname": UNKNOWN, "public_key": key, "token": "guess"})

    assert known.status_code == unknown.status_code == 403
    assert unknown.json()["message"].replace(UNKNOWN, host(1)) == known.json()["message"]


@pytest.mark.parametrize("field", ["certname", "public_key", "token"])
def test_a_nul_character_in_a_field_gets_a_400_naming_the_field(client, field):
    build_fleet(hosts=1)
    body = {"certname": host(1), "public_key": new_key(), "token": "t"}
    body[field] = body[field][:3] + "\x00" + body[field][3:]

    response = offer(client, body)

    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}:")
    assert pending(host(1)) == "" and not Event.objects.filter(verb__startswith="agent.").exists()


@pytest.mark.parametrize("field", ["certname", "public_key", "token"])
def test_deeply_nested_json_in_a_field_gets_a_400_naming_the_field(client, field):
    build_fleet(hosts=1)
    body = json.dumps({"certname": host(1), "public_key": new_key(), "token": "t"})
    nested = "[" * 5000 + "]" * 5000
    body = body.replace(f'"{field}": ', f'"{field}": {nested}, "was": ')

    response = offer(client, body)

    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}:")
    assert pending(host(1)) == ""


def test_a_body_nested_deeply_gets_a_400_naming_the_body(client):
    response = offer(client, "[" * 5000 + "]" * 5000)

    assert response.status_code == 400
    assert response.json()["message"].startswith("body:")


@pytest.mark.parametrize("token", [["t"], {"t": 1}, 7, None])
def test_a_token_that_is_not_a_string_gets_a_400_naming_it(client, token):
    build_fleet(hosts=1)

    response = offer(client, {"certname": host(1), "public_key": new_key(), "token": token})

    assert response.status_code == 400
    assert response.json()["message"] == "token: required (a string)"
    assert pending(host(1)) == ""


def test_an_oversized_body_gets_a_400_before_it_is_parsed(client):
    response = offer(client, {"certname": "a" * 20_000, "public_key": "k"})

    assert response.status_code == 400
    assert response.json()["message"].startswith("body: at most")


def test_brackets_and_escaped_quotes_inside_strings_are_not_nesting(client):
    build_fleet(hosts=1)
    token = '\\"' + "[{" * 50

    response = offer(client, {"certname": host(1), "public_key": new_key(), "token": token})

    assert response.status_code == 403  # read as the (wrong) token it is, not refused as nested
    assert "unknown, used or expired" in response.json()["message"]
