"""The audit trail page: every change with actor and change, searchable, paged."""

from orbiter.audit.models import Event
from tests.web.conftest import client_for, post
from tests.web.support import deploy, text


def test_it_finds_events_by_actor_verb_object_and_text(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="dora", until=None)
    post(client_for("april"), f"/deployments/{waiting.pk}/reject")
    browser = client_for("viola")

    by_actor = text(browser.get("/audit/?actor=april"))
    assert f"april deployment.reject deployment #{waiting.pk} awaiting_approval → rejected" in by_actor
    assert "deployment.request" not in by_actor

    by_verb = text(browser.get("/audit/?verb=deployment.re"))
    assert "deployment.request" in by_verb and "deployment.reject" in by_verb and "host.create" not in by_verb

    by_object = text(browser.get(f"/audit/?object=deployment:{waiting.pk}"))
    assert "deployment.request" in by_object and "artifact.register" not in by_object

    by_text = text(browser.get("/audit/?q=1.0.0-1"))  # in the events' data
    assert "artifact.register" in by_text and "deployment.request" in by_text and "host.create" not in by_text


def test_it_pages_fifty_events_at_a_time(fleet, cast):
    total = Event.objects.count()
    assert total > 0
    for i in range(60 - total):
        Event.objects.create(actor="script", verb="test.noise", object_type="thing", object_id=str(i))
    browser = client_for("viola")
    first = browser.get("/audit/").content.decode()
    row = '<tr><td class="nowrap">'
    assert first.count(row) == 50 and "older" in first
    older = first.split("before=")[1].split('"')[0]
    second = browser.get(f"/audit/?before={older}").content.decode()
    assert second.count(row) == 10


def test_a_user_without_a_role_may_not_read_it(fleet, cast, settings):
    settings.ORBITER_DEFAULT_ROLE = ""
    assert client_for("viola").get("/audit/").status_code == 403
