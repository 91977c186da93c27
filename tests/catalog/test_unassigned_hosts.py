"""An agent that enrolls under a certname Orbiter does not know is kept as unassigned, for an
admin to assign or reject; what an anonymous caller can do to that table stays bounded and
the answer still tells nothing."""

import json
import logging

import pytest

from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.catalog import unassigned
from orbiter.catalog.agents import fingerprint
from orbiter.catalog.models import Host, UnassignedHost
from orbiter.common.errors import Conflict, OrbiterError
from orbiter.common.quiet_log import QuietLog
from orbiter_agent.keys import generate_keypair
from tests.conftest import build_fleet
from tests.deployments.support import host

pytestmark = pytest.mark.django_db

NEW = "new-01.example.test"


def offer(client, certname, key, token=""):
    body = {"certname": certname, "public_key": key, **({"token": token} if token else {})}
    return client.post("/agents/enroll", json.dumps(body), content_type="application/json")


def new_key():
    return generate_keypair()[1]


@pytest.fixture
def fleet():
    return build_fleet(hosts=1)


def test_an_agent_enrolling_under_an_unknown_certname_is_kept_as_unassigned_with_its_fingerprint(client, fleet):
    key = new_key()

    response = offer(client, NEW, key)

    assert response.json() == {"status": "pending", "fingerprint": fingerprint(key)}
    [row] = unassigned.unassigned_list()
    assert (row.certname, row.public_key, row.fingerprint, row.attempts) == (NEW, key, fingerprint(key), 1)
    assert not Host.objects.filter(certname=NEW).exists()


def test_the_answer_is_the_same_whether_the_certname_is_unassigned_rejected_or_a_host(client, fleet):
    key = new_key()
    offer(client, "gone-01.example.test", new_key())
    unassigned.unassigned_reject(certname="gone-01.example.test", actor="admin")

    answers = {name: offer(client, name, key) for name in (host(1), NEW, "gone-01.example.test")}

    assert len({(a.status_code, a.content) for a in answers.values()}) == 1


def test_offering_the_same_key_again_counts_an_attempt_on_the_same_row(client, fleet):
    key = new_key()
    offer(client, NEW, key)
    first = UnassignedHost.objects.get(certname=NEW)

    offer(client, NEW, key)
    offer(client, NEW, key)

    row = UnassignedHost.objects.get(certname=NEW)
    assert row.attempts == 3 and row.first_seen_at == first.first_seen_at and row.last_seen_at > first.last_seen_at


def test_a_second_offer_with_another_key_does_not_replace_the_first(client, fleet, caplog):
    genuine, attacker = new_key(), new_key()
    offer(client, NEW, genuine)

    with caplog.at_level(logging.WARNING, logger="orbiter.catalog.unassigned"):
        response = offer(client, NEW, attacker)

    assert response.json()["status"] == "pending"
    row = UnassignedHost.objects.get(certname=NEW)
    assert (row.public_key, row.attempts) == (genuine, 1)
    assert fingerprint(genuine) in caplog.text


def test_beyond_the_cap_new_certnames_are_dropped_and_logged_at_most_ten_times_a_minute(
        client, fleet, monkeypatch, caplog):
    monkeypatch.setattr(unassigned, "CAP", 5)
    monkeypatch.setattr(unassigned, "_quiet", QuietLog(unassigned.log, unassigned._quiet.summary))
    key = new_key()

    with caplog.at_level(logging.WARNING, logger="orbiter.catalog.unassigned"):
        answers = [offer(client, f"flood-{i:03d}.example.test", key) for i in range(40)]

    assert {a.json()["status"] for a in answers} == {"pending"}
    assert UnassignedHost.objects.count() == 5
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 10


def test_an_offer_with_a_token_under_an_unknown_certname_is_refused_and_not_kept(client, fleet):
    response = offer(client, NEW, new_key(), token="guess")

    assert response.status_code == 403
    assert not UnassignedHost.objects.exists()


def test_a_rejected_certname_keeps_its_first_key_and_later_offers_change_nothing(client, fleet):
    genuine = new_key()
    offer(client, NEW, genuine)

    unassigned.unassigned_reject(certname=NEW, actor="alice")
    offer(client, NEW, new_key())

    row = UnassignedHost.objects.get(certname=NEW)
    assert (row.public_key, row.rejected_by) == (genuine, "alice") and row.rejected_at is not None
    assert unassigned.unassigned_list(rejected=False) == []
    [event] = Event.objects.filter(verb="unassigned.reject")
    assert (event.actor, event.data["fingerprint"]) == ("alice", fingerprint(genuine))


def test_a_rejection_can_be_undone_and_the_host_waits_again(client, fleet):
    offer(client, NEW, new_key())
    unassigned.unassigned_reject(certname=NEW, actor="alice")

    unassigned.unassigned_unreject(certname=NEW, actor="bob")

    assert [row.certname for row in unassigned.unassigned_list(rejected=False)] == [NEW]
    assert Event.objects.filter(verb="unassigned.unreject", actor="bob").exists()
    with pytest.raises(Conflict):
        unassigned.unassigned_unreject(certname=NEW, actor="bob")


def test_creating_the_host_by_any_path_makes_the_offered_key_its_pending_key(client, fleet):
    app, env = fleet
    key = new_key()
    offer(client, NEW, key)

    catalog.host_create(certname=NEW, environment=env, applications=[app], actor="apply")

    created = Host.objects.get(certname=NEW)
    assert (created.agent_key_pending, created.agent_public_key) == (key, "")
    assert not UnassignedHost.objects.exists()
    [event] = Event.objects.filter(verb="agent.offer_key")
    assert event.data["fingerprint"] == fingerprint(key) and event.data["from"] == "unassigned"


def test_creating_the_host_of_a_rejected_certname_drops_the_rejected_key(client, fleet):
    app, env = fleet
    offer(client, NEW, new_key())
    unassigned.unassigned_reject(certname=NEW, actor="alice")

    catalog.host_create(certname=NEW, environment=env, applications=[app], actor="apply")

    assert Host.objects.get(certname=NEW).agent_key_pending == ""
    assert not UnassignedHost.objects.exists()


def test_assigning_without_the_fingerprint_creates_the_host_with_its_key_pending(client, fleet):
    app, env = fleet
    key = new_key()
    offer(client, NEW, key)

    unassigned.unassigned_assign(certname=NEW, environment="cert", applications=["shop-api"], actor="alice",
                                 labels={"rack": "b2"})

    created = Host.objects.get(certname=NEW)
    assert (created.agent_key_pending, created.agent_public_key, created.labels) == (key, "", {"rack": "b2"})
    assert list(created.applications.all()) == [app]
    assert Event.objects.filter(verb="host.create", actor="alice").exists()


def test_assigning_with_the_fingerprint_read_on_the_host_trusts_its_key(client, fleet):
    key = new_key()
    offer(client, NEW, key)

    unassigned.unassigned_assign(certname=NEW, environment="cert", applications=["shop-api"], actor="alice",
                                 expected_fingerprint=fingerprint(key))

    created = Host.objects.get(certname=NEW)
    assert (created.agent_public_key, created.agent_key_pending) == (key, "")
    assert Event.objects.filter(verb="agent.approve_key", actor="alice").exists()


def test_assigning_with_another_fingerprint_is_refused_and_creates_nothing(client, fleet):
    offer(client, NEW, new_key())

    with pytest.raises(OrbiterError, match="fingerprint mismatch"):
        unassigned.unassigned_assign(certname=NEW, environment="cert", applications=["shop-api"], actor="alice",
                                     expected_fingerprint=fingerprint(new_key()))

    assert not Host.objects.filter(certname=NEW).exists()
    assert UnassignedHost.objects.filter(certname=NEW).exists()


def test_a_rejected_certname_cannot_be_assigned_until_unrejected(client, fleet):
    offer(client, NEW, new_key())
    unassigned.unassigned_reject(certname=NEW, actor="alice")

    with pytest.raises(Conflict, match="unreject it first"):
        unassigned.unassigned_assign(certname=NEW, environment="cert", applications=["shop-api"], actor="alice")

    assert not Host.objects.filter(certname=NEW).exists()


def test_forgetting_a_row_makes_room_under_the_cap(client, fleet, monkeypatch):
    monkeypatch.setattr(unassigned, "CAP", 1)
    offer(client, NEW, new_key())

    unassigned.unassigned_forget(certname=NEW, actor="alice")
    offer(client, "other-01.example.test", new_key())

    assert [row.certname for row in UnassignedHost.objects.all()] == ["other-01.example.test"]
    assert Event.objects.filter(verb="unassigned.forget", actor="alice").exists()


def test_claiming_a_batch_of_new_hosts_that_never_offered_costs_one_query(fleet, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert unassigned.unassigned_claim([f"n-{i:05d}.example.test" for i in range(5000)]) == {}


def test_an_offer_that_races_the_hosts_creation_hands_its_key_to_the_new_host(fleet):
    _, env = fleet
    key = new_key()
    # The enrollment looked the certname up (no host yet); the host is created, its claim
    # finding no row; only then does the offer write its row.
    Host.objects.create(certname=NEW, environment=env)

    unassigned.unassigned_offer(certname=NEW, public_key=key)

    assert Host.objects.get(certname=NEW).agent_key_pending == key
    assert not UnassignedHost.objects.exists()
