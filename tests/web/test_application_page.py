"""The application page: builds with where each runs, the pipeline slot, and the
deployment history filtered by environment and status, page by page."""

from orbiter.deployments import services
from orbiter.deployments.models import Deployment
from tests.web.conftest import client_for
from tests.web.support import deploy, text


def test_it_shows_each_build_and_where_it_runs(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.1.0-1")
    page = text(client_for("viola").get("/applications/shop-api/"))
    assert "1.1.0-1 cert: 2 hosts" in page
    assert "1.0.0-1 nowhere" in page
    assert "No pipeline is configured for shop-api." in page


def test_it_filters_the_history_by_environment_and_status(fleet, cast, tasks):
    done = deploy(tasks, environment="cert", version="1.0.0-1")
    waiting = deploy(tasks, environment="production", version="1.0.0-1", until=None)
    browser = client_for("viola")
    production = text(browser.get("/applications/shop-api/?environment=production"))
    assert f"#{waiting.pk}" in production and f"#{done.pk} " not in production
    succeeded = text(browser.get("/applications/shop-api/?status=succeeded"))
    assert f"#{done.pk}" in succeeded and f"#{waiting.pk} " not in succeeded


def test_the_filter_answers_htmx_with_the_history_only(fleet, cast, tasks):
    deploy(tasks, environment="cert", version="1.0.0-1")
    response = client_for("viola").get("/applications/shop-api/?environment=cert&part=history", HTTP_HX_REQUEST="true")
    assert "<html" not in response.content.decode()
    assert "shop-api 1.0.0-1 cert succeeded" in text(response).replace("#1 ", "")


def test_the_history_pages_by_25_newest_first(fleet, cast, tasks):
    for _ in range(27):  # requests that end cancelled, to have many rows quickly
        d = services.deployment_create(application="shop-api", environment="cert", version="1.0.0-1", actor="dora")
        services.deployment_cancel(deployment_id=d.pk, actor="dora")
    ids = list(Deployment.objects.order_by("-id").values_list("pk", flat=True))
    browser = client_for("viola")
    first = browser.get("/applications/shop-api/").content.decode()
    assert f">#{ids[0]}<" in first and f">#{ids[24]}<" in first and f">#{ids[25]}<" not in first
    assert f"before={ids[24]}" in first
    second = browser.get(f"/applications/shop-api/?before={ids[24]}").content.decode()
    assert f">#{ids[25]}<" in second and f">#{ids[26]}<" in second and f">#{ids[24]}<" not in second
    assert "before=" not in second.split('class="pager"')[1]  # the last page
    assert "newest" in second


def test_the_history_of_all_applications(fleet, cast, tasks):
    done = deploy(tasks, environment="cert", version="1.0.0-1")
    page = text(client_for("viola").get("/deployments/?application=shop-api&status=succeeded"))
    assert f"#{done.pk} shop-api 1.0.0-1 cert succeeded dora" in page


def test_an_unknown_application_is_not_found(fleet, cast):
    assert client_for("viola").get("/applications/nope/").status_code == 404
