"""The unassigned hosts page: admins of all environments see each waiting agent's
fingerprint and assign or reject it with a button; nobody else sees the page or its link."""

import json

from orbiter.audit.models import Event
from orbiter.catalog.agents import fingerprint
from orbiter.catalog.models import Host, UnassignedHost
from orbiter_agent.keys import generate_keypair
from tests.web.conftest import client_for, post
from tests.web.support import text

NEW = "new-01.example.test"


def waiting(client) -> str:
    key = generate_keypair()[1]
    client.post("/agents/enroll", json.dumps({"certname": NEW, "public_key": key}), content_type="application/json")
    return key


def test_an_admin_sees_the_waiting_agent_with_its_fingerprint_and_a_link_in_the_nav(fleet, cast, client):
    key = waiting(client)

    page = text(client_for("ada").get("/unassigned-hosts/"))

    assert f"{NEW} {fingerprint(key)}" in page
    assert "Unassigned hosts" in text(client_for("ada").get("/environments/"))


def test_a_deployer_gets_a_403_without_the_certname_and_no_link(fleet, cast, client):
    waiting(client)

    response = client_for("dora").get("/unassigned-hosts/")

    assert response.status_code == 403 and NEW not in text(response)
    assert "needs the admin role for all environments" in text(response)
    assert "Unassigned hosts" not in text(client_for("dora").get("/environments/"))
    assert post(client_for("dora"), f"/unassigned-hosts/{NEW}/reject").status_code == 403
    assert UnassignedHost.objects.get(certname=NEW).rejected_at is None


def test_the_assign_button_creates_the_host_and_trusts_the_key_given_its_fingerprint(fleet, cast, client):
    key = waiting(client)
    browser = client_for("ada")

    response = post(browser, f"/unassigned-hosts/{NEW}/assign", {
        "environment": "cert", "applications": ["shop-api"], "labels": "rack=b2", "fingerprint": fingerprint(key)})

    assert response.status_code == 302
    host = Host.objects.get(certname=NEW)
    assert (host.environment.name, host.labels, host.agent_public_key) == ("cert", {"rack": "b2"}, key)
    page = text(browser.get("/unassigned-hosts/"))
    assert f"{NEW} joined cert; its agent key is trusted" in page and "none waiting" in page


def test_a_wrong_fingerprint_is_shown_on_the_page_and_nothing_is_created(fleet, cast, client):
    waiting(client)
    browser = client_for("ada")

    post(browser, f"/unassigned-hosts/{NEW}/assign",
         {"environment": "cert", "fingerprint": fingerprint(generate_keypair()[1])})

    assert "fingerprint mismatch" in text(browser.get("/unassigned-hosts/"))
    assert not Host.objects.filter(certname=NEW).exists()


def test_reject_moves_it_to_the_rejected_list_and_unreject_brings_it_back(fleet, cast, client):
    waiting(client)
    browser = client_for("ada")

    post(browser, f"/unassigned-hosts/{NEW}/reject")
    page = text(browser.get("/unassigned-hosts/"))
    assert "none waiting" in page and f"Rejected Their later offers change nothing. certname fingerprint " \
                                      f"rejected attempts {NEW}" in page

    post(browser, f"/unassigned-hosts/{NEW}/unreject")
    assert "none waiting" not in text(browser.get("/unassigned-hosts/"))
    assert [e.actor for e in Event.objects.filter(verb__startswith="unassigned.")] == ["ada", "ada"]
