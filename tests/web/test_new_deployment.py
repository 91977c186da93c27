"""The new-deployment form: preflight and plan before confirming, production-like
environments confirmed by typing the application's name, nothing made on refusal."""

from orbiter.deployments import states
from orbiter.deployments.models import Deployment
from tests.web.conftest import client_for, post
from tests.web.support import deploy, text

CERT = {"application": "shop-api", "version": "1.1.0-1", "environment": "cert"}
PRODUCTION = {**CERT, "environment": "production"}


def test_the_preview_shows_the_plan_with_batches_load_balancer_actions_and_eta(fleet, cast):
    response = post(client_for("dora"), "/deploy/preview", CERT, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = text(response)
    assert "Preflight passed" in page
    assert "2 batches" in page
    assert "shop-api-cert-01" in page and "shop-api-cert-02" in page
    assert "drain shop-api-cert/shop-api-cert-01 (simulated), then enable after health check" in page
    assert "expected to take about 2m 30s" in page  # no history yet: 75 s per batch
    assert Deployment.objects.count() == 0  # a preview writes nothing


def test_the_preview_shows_a_preflight_refusal(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.1.0-1")
    page = text(post(client_for("dora"), "/deploy/preview", {**CERT, "version": "1.0.0-1"}))
    assert "Refused (downgrade): 1.0.0-1 is older than 1.1.0-1, already pinned in cert" in page


def test_the_version_list_follows_the_application(fleet, cast):
    page = client_for("dora").get("/deploy/?application=shop-api").content.decode()
    assert '<option value="1.1.0-1" selected>' in page  # newest first and preselected
    assert '<option value="1.0.0-1"' in page


def test_it_creates_the_deployment_and_opens_its_page(fleet, cast):
    response = post(client_for("dora"), "/deploy/", {**CERT, "comment": "hotfix"})
    deployment = Deployment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.pk}/"
    assert (deployment.requested_by_name, deployment.status, deployment.comment) == ("dora", states.QUEUED, "hotfix")
    assert deployment.artifact.label == "1.1.0-1"


def test_a_batch_size_given_in_the_form_is_used(fleet, cast):
    post(client_for("dora"), "/deploy/", {**CERT, "batch_size": "100%"})
    assert Deployment.objects.get().strategy["batch_size"] == "100%"


def test_a_bad_batch_size_is_refused_naming_the_field(fleet, cast):
    response = post(client_for("dora"), "/deploy/", {**CERT, "batch_size": "lots"})
    assert response.status_code == 400
    assert "batch_size: 'lots' is not allowed" in text(response)
    assert not Deployment.objects.exists()


def test_production_asks_to_type_the_application_name(fleet, cast):
    preview = text(post(client_for("dora"), "/deploy/preview", PRODUCTION))
    assert "production is production-like: type shop-api to confirm" in preview
    assert "someone other than you must approve" in preview

    refused = post(client_for("dora"), "/deploy/", {**PRODUCTION, "confirm": "shop"})
    assert refused.status_code == 400
    assert "type shop-api to confirm a deployment to production" in text(refused)
    assert not Deployment.objects.exists()

    accepted = post(client_for("dora"), "/deploy/", {**PRODUCTION, "confirm": "shop-api"})
    assert accepted.status_code == 302
    assert Deployment.objects.get().status == states.AWAITING_APPROVAL


def test_an_environment_named_prod_something_is_production_like(fleet, cast):
    from tests.conftest import build_fleet

    build_fleet(hosts=1, environment="prod-eu")
    preview = text(post(client_for("dora"), "/deploy/preview", {**CERT, "environment": "prod-eu"}))
    assert "type shop-api to confirm" in preview
    cert = text(post(client_for("dora"), "/deploy/preview", CERT))
    assert "to confirm" not in cert


def test_a_refused_request_says_why_and_creates_nothing(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.1.0-1")
    response = post(client_for("dora"), "/deploy/", CERT)
    assert response.status_code == 400
    assert "already pinned on all 2 host(s) of cert" in text(response)
    assert Deployment.objects.count() == 1


def test_a_viewer_may_not_deploy(fleet, cast):
    page = text(client_for("viola").get("/deploy/"))
    assert "You may not deploy to any environment" in page
    response = post(client_for("viola"), "/deploy/", CERT)
    assert response.status_code == 403
    assert "viola may not deploy in cert: needs the deployer role, has viewer" in text(response)
    assert not Deployment.objects.exists()


def test_a_deployer_in_cert_only_is_not_offered_production(fleet, cast, settings):
    from orbiter.accounts.services import role_grant
    from tests.web.conftest import user

    user("carl", None)
    role_grant(role="deployer", actor="admin", user="carl", environment="cert")
    page = client_for("carl").get("/deploy/?application=shop-api").content.decode()
    assert '<option value="cert"' in page
    assert '<option value="production"' not in page
    response = post(client_for("carl"), "/deploy/", {**PRODUCTION, "confirm": "shop-api"})
    assert response.status_code == 403
    assert not Deployment.objects.exists()


def frozen(environment: str) -> None:
    from django.utils import timezone

    from orbiter.catalog.models import Environment, FreezeWindow

    now = timezone.now()
    FreezeWindow.objects.create(environment=Environment.objects.get(name=environment), reason="peak sales",
                                starts_at=now - timezone.timedelta(hours=1), ends_at=now + timezone.timedelta(hours=1))


def test_an_admin_may_deploy_through_a_freeze_giving_a_reason(fleet, cast):
    from orbiter.audit.models import Event

    frozen("cert")
    preview = text(post(client_for("ada"), "/deploy/preview", CERT))
    assert "Refused (freeze_window)" in preview and "peak sales" in preview
    assert "As an admin you may deploy through the freeze" in preview
    response = post(client_for("ada"), "/deploy/", {**CERT, "override_freeze": "security fix"})
    assert response.status_code == 302
    assert Deployment.objects.get().status == states.QUEUED
    assert Event.objects.get(verb="deployment.freeze_override").data["reason"] == "security fix"


def test_a_deployer_may_not_override_a_freeze(fleet, cast):
    frozen("cert")
    preview = text(post(client_for("dora"), "/deploy/preview", CERT))
    assert "Refused (freeze_window)" in preview and "deploy through the freeze" not in preview
    response = post(client_for("dora"), "/deploy/", {**CERT, "override_freeze": "me too"})
    assert response.status_code == 403
    assert "dora may not override_freeze in cert: needs the admin role" in text(response)
    assert not Deployment.objects.exists()
