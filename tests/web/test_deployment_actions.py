"""The controls: each a POST with CSRF through the deployment services; a role that does not
allow the action gets the 403 page and nothing changes; a refusal is shown as a message."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog.models import Application
from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from tests.web.conftest import client_for, post
from tests.web.support import deploy, status, text


def act(name: str, deployment, action: str, **kwargs):
    return post(client_for(name), f"/deployments/{deployment.pk}/{action}", **kwargs)


def test_a_deployer_pauses_and_resumes(fleet, cast, tasks):
    Application.objects.update(rollout_defaults={"pause_between_batches": "until-resumed", "retry_backoff_s": 0})
    running = deploy(tasks, environment="cert", version="1.0.0-1", until=states.RUNNING)
    response = act("dora", running, "pause")
    assert response.status_code == 302 and response["Location"] == f"/deployments/{running.pk}/"
    assert status(running) == states.PAUSED
    act("dora", running, "resume")
    assert status(running) == states.RUNNING
    assert Event.objects.filter(verb="deployment.pause", actor="dora").exists()


def test_a_deployer_cancels_a_queued_deployment(fleet, cast, tasks):
    queued = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    act("dora", queued, "cancel")
    assert status(queued) == states.CANCELLED


def test_a_deployer_retries_the_failed_hosts(fleet, cast, tasks):
    Application.objects.update(converge_options={"duration_s": 0, "fail_hosts": ["shop-api-cert-01"]})
    failed = deploy(tasks, environment="cert", version="1.0.0-1", until=states.FAILED)
    Application.objects.update(converge_options={"duration_s": 0})
    act("dora", failed, "retry")
    assert status(failed) == states.RUNNING
    tasks.run_until(lambda: status(failed) == states.SUCCEEDED)


def test_a_deployer_rolls_back_and_lands_on_the_rollback(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.0.0-1")
    upgrade = deploy(tasks, environment="cert", version="1.1.0-1")
    response = act("dora", upgrade, "rollback")
    rollback = Deployment.objects.get(rollback_of=upgrade)
    assert response["Location"] == f"/deployments/{rollback.pk}/"
    tasks.run_until(lambda: status(upgrade) == states.ROLLED_BACK)
    assert status(rollback) == states.SUCCEEDED


def test_an_approver_approves_someone_elses_request_and_it_runs(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="dora", until=None)
    response = act("april", waiting, "approve", data={"next": "/approvals/"})
    assert response["Location"] == "/approvals/"
    tasks.run_until(lambda: status(waiting) == states.SUCCEEDED)
    assert Event.objects.get(verb="deployment.approve").actor == "april"


def test_an_approver_rejects(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="dora", until=None)
    act("april", waiting, "reject")
    assert status(waiting) == states.REJECTED


def test_the_requester_cannot_approve_their_own_request(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="april", until=None)
    response = act("april", waiting, "approve")
    assert response.status_code == 403
    assert f"april requested deployment #{waiting.pk} and cannot approve it; ask someone else" in text(response)
    assert status(waiting) == states.AWAITING_APPROVAL


@pytest.mark.parametrize("name,action", [
    ("viola", "cancel"), ("viola", "pause"), ("viola", "retry"), ("viola", "rollback"),
    ("dora", "approve"), ("dora", "reject"), ("viola", "approve"),
])
def test_an_action_the_role_does_not_allow_is_forbidden_and_changes_nothing(fleet, cast, tasks, name, action):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="dan", until=None)
    events = Event.objects.count()
    response = act(name, waiting, action)
    assert response.status_code == 403
    assert f"{name} may not {action} in production" in text(response)
    assert "Nothing was changed" in text(response)
    assert status(waiting) == states.AWAITING_APPROVAL
    assert Event.objects.count() == events


def test_an_action_needs_the_csrf_token(fleet, cast, tasks):
    queued = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    browser = client_for("dora")
    assert browser.post(f"/deployments/{queued.pk}/cancel").status_code == 403
    assert status(queued) == states.QUEUED


def test_an_action_needs_a_post(fleet, cast, tasks):
    queued = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    assert client_for("dora").get(f"/deployments/{queued.pk}/cancel").status_code == 405
    assert status(queued) == states.QUEUED


def test_an_unknown_action_is_not_found(fleet, cast, tasks):
    queued = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    assert act("ada", queued, "explode").status_code == 404


def test_an_action_the_state_does_not_allow_is_explained(fleet, cast, tasks):
    done = deploy(tasks, environment="cert", version="1.0.0-1")
    browser = client_for("dora")
    response = post(browser, f"/deployments/{done.pk}/pause")
    assert response["Location"] == f"/deployments/{done.pk}/"
    page = text(browser.get(response["Location"]))
    assert "cannot pause a deployment that is succeeded" in page
    assert status(done) == states.SUCCEEDED


def test_a_strangers_next_url_is_ignored(fleet, cast, tasks):
    queued = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    response = act("dora", queued, "cancel", data={"next": "https://evil.example/"})
    assert response["Location"] == f"/deployments/{queued.pk}/"


def test_two_approvals_are_needed_where_the_environment_says_so(fleet, cast, tasks):
    from orbiter.catalog.models import Environment

    Environment.objects.filter(name="production").update(min_approvals=2)
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="dora", until=None)
    act("april", waiting, "approve")
    assert status(waiting) == states.AWAITING_APPROVAL
    page = text(client_for("april").get(f"/deployments/{waiting.pk}/"))
    assert "Approvals: 1 of 2 (april)" in page
    assert ">Approve</button>" not in client_for("april").get(f"/deployments/{waiting.pk}/").content.decode()
    act("ada", waiting, "approve")
    tasks.run_until(lambda: status(waiting) == states.SUCCEEDED)
