"""Every page needs a signed-in user; signing in and out works with Django's auth."""

import pytest

from tests.web.conftest import PASSWORD, client_for, post

PAGES = ["/", "/active", "/applications/shop-api/", "/deploy/", "/deployments/", "/approvals/",
         "/environments/", "/environments/cert/", "/audit/"]


@pytest.mark.parametrize("url", PAGES)
def test_it_sends_strangers_to_the_sign_in_page(client, fleet, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_it_signs_a_user_in_and_shows_the_dashboard(client, fleet, cast):
    page = client.get("/accounts/login/")
    assert b"Sign in to Orbiter" in page.content
    response = client.post("/accounts/login/", {"username": "dora", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"What runs where" in response.content
    assert b"dora" in response.content


def test_it_refuses_a_wrong_password(client, cast):
    response = client.post("/accounts/login/", {"username": "dora", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert client.get("/").status_code == 302


def test_it_signs_out(fleet, cast):
    browser = client_for("dora")
    response = post(browser, "/accounts/logout/")
    assert response.status_code == 302
    assert browser.get("/").status_code == 302


def test_health_check_needs_no_sign_in(client, db):
    assert client.get("/healthz").json()["ok"] is True


def test_htmx_and_the_stylesheet_are_served_locally(client, fleet, cast):
    page = client_for("viola").get("/").content.decode()
    assert 'src="/static/django_htmx/htmx-2' in page or "/static/django_htmx/htmx" in page
    assert "https://" not in page.split("<body")[0]  # no CDN


def test_the_sign_in_page_offers_single_sign_on_when_oidc_is_on(client, db, settings):
    settings.ORBITER_AUTH_METHODS = ["local", "oidc"]
    assert "/oidc/authenticate/?next=/" in client.get("/accounts/login/").content.decode()
    settings.ORBITER_AUTH_METHODS = ["local"]
    assert "oidc" not in client.get("/accounts/login/").content.decode()


def test_a_poll_after_the_session_ended_sends_the_whole_page_to_sign_in(client, fleet):
    response = client.get("/active", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/deployments/3/")
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/login/?next=/deployments/3/"
