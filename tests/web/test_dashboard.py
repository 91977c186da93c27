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
    assert 'class="done" x="0" y="0" width="50"' in partial
    assert "1/2 hosts" in text(client_for("viola").get("/active"))


def test_versions_of_an_environment_are_listed_newest_first_in_rpm_order(fleet, cast, tasks):
    from orbiter.catalog import services as catalog
    from orbiter.catalog.models import Application, Artifact, Pin

    app = Application.objects.get(name="shop-api")
    for nevra in ("shop-api-1.9.0-1.noarch", "shop-api-1.10.0-1.noarch", "shop-api-1:0.9.0-1.noarch"):
        catalog.artifact_register(application=app, nevra=nevra, actor="admin")
    deploy(tasks, environment="cert", version="1.9.0-1")
    Pin.objects.filter(host__certname="shop-api-cert-02").update(artifact=Artifact.objects.get(version="1.10.0"))
    page = text(client_for("viola").get("/"))
    assert "shop-api 1.10.0-1 (1/2) 1.9.0-1 (1/2) ⚠ drift" in page  # 1.10 is newer than 1.9
    Pin.objects.filter(host__certname="shop-api-cert-01").update(artifact=Artifact.objects.get(epoch=1))
    page = text(client_for("viola").get("/"))
    assert "shop-api 1:0.9.0-1 (1/2) 1.10.0-1 (1/2)" in page  # an epoch beats any version


def test_only_hosts_whose_agent_reports_another_version_count_as_drifted(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.1.0-1")
    Host.objects.filter(certname="shop-api-cert-01").update(facts={"packages": {"nginx": "1.24.0-1"}})
    Host.objects.filter(certname="shop-api-cert-02").update(facts={"packages": {"shop-api": "1.1.0-1"}})
    assert "drift" not in text(client_for("viola").get("/"))  # one reports nothing about shop-api, one agrees

    Host.objects.filter(certname="shop-api-cert-01").update(facts={"packages": {"shop-api": "1.0.0-1"}})
    Host.objects.filter(certname="shop-api-cert-02").update(facts={"packages": {"shop-api": None}})
    page = text(client_for("viola").get("/"))
    assert "shop-api 1.1.0-1 ⚠ drift: 2 hosts differ from the pin" in page
    # production: nothing pinned there, so what its agents report is no drift
    Host.objects.filter(environment__name="production").update(facts={"packages": {"shop-api": "0.1-1"}})
    page = text(client_for("viola").get("/"))
    assert "2 hosts not deployed by Orbiter" in page
    assert page.count("drift") == 1


def test_the_matrix_has_a_row_per_application_and_a_column_per_visible_environment(fleet, cast, tasks, settings):
    from orbiter.accounts.services import role_grant
    from tests.conftest import build_fleet

    build_fleet(hosts=1, environment="cert", application="billing")
    build_fleet(hosts=0, environment="cert", application="idle")
    deploy(tasks, environment="cert", version="1.0.0-1")
    page = text(client_for("viola").get("/"))
    assert "application cert production" in page
    assert "billing 1 host not deployed by Orbiter — idle — — shop-api 1.0.0-1 2 hosts not deployed by Orbiter" in page

    settings.ORBITER_DEFAULT_ROLE = ""
    role_grant(role="viewer", actor="admin", user="viola", environment="cert")
    page = text(client_for("viola").get("/"))
    assert "production" not in page
    assert "application cert billing 1 host not deployed by Orbiter idle — shop-api 1.0.0-1" in page
