"""The deployment page: host × step grid by batch, live partial, host detail, timeline,
and only the controls the user's role and the deployment's state allow."""

from orbiter.deployments import states
from orbiter.deployments.models import HostDeployment
from tests.web.conftest import client_for
from tests.web.support import deploy, text


def test_it_shows_each_host_and_step_grouped_by_batch(fleet, cast, tasks):
    deployment = deploy(tasks, environment="cert", version="1.0.0-1")
    response = client_for("viola").get(f"/deployments/{deployment.pk}/")
    assert response.status_code == 200
    page = text(response)
    assert "batch 1 shop-api-cert-01 done ✓ ✓ ✓ ✓" in page
    assert "batch 2 shop-api-cert-02 done ✓ ✓ ✓ ✓" in page
    assert "2 of 2 hosts done" in page
    assert "deployment.succeed running → succeeded" in page  # the timeline


def test_the_live_part_polls_while_the_deployment_moves_and_stops_after(fleet, cast, tasks):
    moving = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    live = client_for("viola").get(f"/deployments/{moving.pk}/live").content.decode()
    assert 'hx-trigger="every 1s"' in live
    assert f'hx-get="/deployments/{moving.pk}/live"' in live
    tasks.run_until(lambda: HostDeployment.objects.filter(deployment=moving, status=states.DONE).count() == 2)
    tasks.run_until(lambda: moving.__class__.objects.get(pk=moving.pk).status == states.SUCCEEDED)
    finished = client_for("viola").get(f"/deployments/{moving.pk}/live").content.decode()
    assert "hx-trigger" not in finished
    assert 'data-status="succeeded"' in finished


def test_a_failed_host_shows_the_step_it_failed_in(fleet, cast, tasks):
    from orbiter.catalog.models import Application

    Application.objects.update(converge_options={"duration_s": 0, "fail_hosts": ["shop-api-cert-01"]})
    deployment = deploy(tasks, environment="cert", version="1.0.0-1", until=states.FAILED)
    page = text(client_for("viola").get(f"/deployments/{deployment.pk}/live"))
    assert "shop-api-cert-01 failed ✓ ✗" in page  # drained, failed converging
    assert "1 failed" in page


def test_the_host_detail_shows_puppet_summary_and_log_tail(fleet, cast, tasks):
    deployment = deploy(tasks, environment="cert", version="1.0.0-1")
    hd = HostDeployment.objects.get(deployment=deployment, host__certname="shop-api-cert-01")
    response = client_for("viola").get(f"/deployments/{deployment.pk}/hosts/{hd.pk}/", HTTP_HX_REQUEST="true")
    page = text(response)
    assert "changed: 1, failed: 0, simulated: True" in page  # keys in order, whatever the database keeps
    assert "simulated Puppet run: shop-api 1.0.0-1" in page
    assert "host.finish enabling → done" in page
    assert "<html" not in response.content.decode()  # a fragment for htmx
    assert "<html" in client_for("viola").get(f"/deployments/{deployment.pk}/hosts/{hd.pk}/").content.decode()


def test_a_host_of_another_deployment_is_not_found(fleet, cast, tasks):
    first = deploy(tasks, environment="cert", version="1.0.0-1")
    second = deploy(tasks, environment="cert", version="1.1.0-1")
    other = HostDeployment.objects.filter(deployment=first).first()
    assert client_for("viola").get(f"/deployments/{second.pk}/hosts/{other.pk}/").status_code == 404


def test_an_unknown_deployment_is_not_found(fleet, cast):
    assert client_for("viola").get("/deployments/999/").status_code == 404


def controls(name: str, deployment) -> list[str]:
    page = client_for(name).get(f"/deployments/{deployment.pk}/").content.decode()
    return [label for label in ("Approve", "Reject", "Pause", "Resume", "Retry failed hosts", "Cancel", "Roll back")
            if f">{label}</button>" in page]


def test_a_viewer_sees_no_control(fleet, cast, tasks):
    running = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    assert controls("viola", running) == []


def test_a_deployer_sees_the_controls_of_a_queued_deployment(fleet, cast, tasks):
    queued = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    assert controls("dora", queued) == ["Cancel"]


def test_a_succeeded_deployment_offers_a_rollback_to_deployers(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.0.0-1")
    upgrade = deploy(tasks, environment="cert", version="1.1.0-1")
    assert controls("dora", upgrade) == ["Roll back"]
    assert controls("viola", upgrade) == []


def test_approval_controls_show_for_approvers_but_not_the_requester(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", actor="april", until=None)
    assert controls("april", waiting) == ["Cancel"]  # her own request: no four-eyes bypass
    assert controls("ada", waiting) == ["Approve", "Reject", "Cancel"]
    assert controls("dora", waiting) == ["Cancel"]
    assert "Waiting for approval by someone other than april" in text(client_for("viola").get(f"/deployments/{waiting.pk}/"))


def test_a_deployment_in_an_environment_without_a_role_is_forbidden(fleet, cast, tasks, settings):
    from orbiter.accounts.services import role_grant

    settings.ORBITER_DEFAULT_ROLE = ""
    role_grant(role="viewer", actor="admin", user="viola", environment="cert")
    hidden = deploy(tasks, environment="production", version="1.0.0-1", until=None)
    hd_url = f"/deployments/{hidden.pk}/hosts/1/"
    browser = client_for("viola")
    for url in (f"/deployments/{hidden.pk}/", f"/deployments/{hidden.pk}/live", hd_url):
        response = browser.get(url)
        assert response.status_code == 403, url
        assert "viola may not view in production" in text(response)
    assert f"#{hidden.pk}" not in text(browser.get("/deployments/"))
    assert "production" not in text(browser.get("/environments/"))


def test_a_rolled_back_deployment_links_to_its_rollback_and_back(fleet, cast, tasks):
    from orbiter.deployments import services
    from tests.web.support import status

    deploy(tasks, environment="cert", version="1.0.0-1")
    upgrade = deploy(tasks, environment="cert", version="1.1.0-1")
    assert "rolled back by" not in text(client_for("viola").get(f"/deployments/{upgrade.pk}/live"))
    rollback = services.deployment_rollback(deployment_id=upgrade.pk, actor="dora")
    tasks.run_until(lambda: status(upgrade) == states.ROLLED_BACK)
    assert f"rolled back by #{rollback.pk} (succeeded)" in text(client_for("viola").get(f"/deployments/{upgrade.pk}/"))
    assert f"rollback of #{upgrade.pk}" in text(client_for("viola").get(f"/deployments/{rollback.pk}/live"))
