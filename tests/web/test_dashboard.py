"""The dashboard: which version runs where (drift flagged) and what is moving now."""

from orbiter.catalog.models import Host
from tests.web.conftest import client_for
from tests.web.support import deploy, text


def test_it_shows_the_version_each_environment_runs(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.1.0-1")
    page = text(client_for("viola").get("/"))
    assert "shop-api 1.1.0-1" in page  # cert column
    assert "2 hosts not deployed by Orbiter" in page  # production: nothing pinned yet
    assert "drift" not in page


def test_it_flags_hosts_running_another_version_than_pinned(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.1.0-1")
    Host.objects.filter(certname="shop-api-cert-01").update(facts={"packages": {"shop-api": "1.0.0-1"}})
    Host.objects.filter(certname="shop-api-cert-02").update(facts={"packages": {"shop-api": "1.1.0-1"}})
    page = text(client_for("viola").get("/"))
    assert "drift: 1 host differs from the pin" in page


def test_it_flags_an_environment_running_two_versions(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.0.0-1")
    from orbiter.catalog.models import Artifact, Pin

    newer = Artifact.objects.get(version="1.1.0")
    Pin.objects.filter(host__certname="shop-api-cert-02").update(artifact=newer)
    page = text(client_for("viola").get("/"))
    assert "1.1.0-1 (1/2) 1.0.0-1 (1/2)" in page
    assert "drift" in page


def test_it_shows_active_deployments_with_their_progress(fleet, cast, tasks):
    waiting = deploy(tasks, environment="production", version="1.0.0-1", until=None)
    partial = client_for("viola").get("/active")
    assert partial.status_code == 200
    body = text(partial)
    assert f"#{waiting.pk} shop-api 1.0.0-1 production awaiting approval" in body
    assert "0/0 hosts" in body


def test_it_tells_an_approver_how_many_requests_wait(fleet, cast, tasks):
    deploy(tasks, environment="production", version="1.0.0-1", until=None)
    assert "1 deployment waiting for your approval" in text(client_for("april").get("/"))
    assert "waiting for your approval" not in text(client_for("viola").get("/"))


def test_a_user_without_any_role_sees_no_environment(fleet, cast, tasks, settings):
    settings.ORBITER_DEFAULT_ROLE = ""
    deploy(tasks, environment="cert", version="1.0.0-1")
    page = text(client_for("viola").get("/"))
    assert "1.0.0-1" not in page


def test_a_progress_bar_counts_the_hosts_done(fleet, cast, tasks):
    from orbiter.catalog.models import Application
    from orbiter.deployments.models import HostDeployment

    Application.objects.update(rollout_defaults={"pause_between_batches": "until-resumed", "retry_backoff_s": 0})
    moving = deploy(tasks, environment="cert", version="1.0.0-1", until=None)
    tasks.run_until(lambda: HostDeployment.objects.filter(deployment=moving, status="done").count() == 1)
    partial = client_for("viola").get("/active").content.decode()
    assert 'aria-valuenow="1"' in partial and 'aria-valuemax="2"' in partial
    assert 'class="done" style="width: 50%"' in partial
    assert "1/2 hosts" in text(client_for("viola").get("/active"))
