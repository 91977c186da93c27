"""Behind an HTTPS reverse proxy: the proxy's scheme header makes requests secure, so form
POSTs pass Django's origin check; cookies are Secure, HSTS is sent, plain HTTP is
redirected; `orbiter check --deploy` finds nothing in the documented production setup.
Found: no such setting, so behind an HTTPS proxy every form POST failed the origin check."""

import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from orbiter.core.https_settings import https_settings

# The production setup docs/tls.md documents (a TLS proxy in front of `orbiter web`).
PRODUCTION = {
    "ORBITER_SECURE_COOKIES": "1",
    "ORBITER_HSTS_SECONDS": "31536000",
    "ORBITER_HSTS_PRELOAD": "1",
    "ORBITER_PROXY_SSL_HEADER": "X-Forwarded-Proto=https",
    "ORBITER_SECURE_SSL_REDIRECT": "1",
    "ORBITER_CSRF_TRUSTED_ORIGINS": "https://orbiter.example.com",
}
PASSWORD = "correct horse battery staple"


def clean_environment() -> dict:
    """This process's environment without Orbiter's or Django's variables: a test run sets
    some (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE, which the deploy check flags)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ORBITER_", "DJANGO_"))}


def deploy_check(environ: dict) -> subprocess.CompletedProcess:
    env = clean_environment()
    env.update(DJANGO_SETTINGS_MODULE="orbiter.settings", ORBITER_MODE="server",
               ORBITER_SECRET_KEY=secrets.token_urlsafe(64), ORBITER_ALLOWED_HOSTS="orbiter.example.com",
               ORBITER_DATABASE_URL=os.environ.get("ORBITER_DATABASE_URL", "sqlite:////tmp/orbiter-check.sqlite3"),
               **environ)
    return subprocess.run([sys.executable, "-m", "orbiter.cli", "check", "--deploy", "--fail-level", "WARNING"],
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_deploy_check_is_clean_in_the_documented_production_setup():
    result = deploy_check(PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deploy_check_names_what_a_plain_http_setup_lacks():
    result = deploy_check({})

    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


@pytest.fixture
def behind_proxy(settings, db):
    for name, value in https_settings({**PRODUCTION, "ORBITER_SECURE_SSL_REDIRECT": "0"}).items():
        setattr(settings, name, value)
    settings.ALLOWED_HOSTS = ["orbiter.example.com"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
    User.objects.create_user("dora", password=PASSWORD)


def browser_via_proxy() -> Client:
    return Client(enforce_csrf_checks=True, HTTP_HOST="orbiter.example.com",
                  HTTP_X_FORWARDED_PROTO="https", HTTP_ORIGIN="https://orbiter.example.com")


def test_a_form_posted_through_the_https_proxy_passes_the_origin_check(behind_proxy):
    browser = browser_via_proxy()
    page = browser.get("/accounts/login/")
    token = browser.cookies["csrftoken"].value

    response = browser.post("/accounts/login/", {"username": "dora", "password": PASSWORD,
                                                 "csrfmiddlewaretoken": token})

    assert response.status_code == 302, response.content[:300]
    assert page.status_code == 200


def test_a_form_posted_from_another_origin_is_still_refused(behind_proxy):
    browser = browser_via_proxy()
    browser.get("/accounts/login/")
    token = browser.cookies["csrftoken"].value

    response = browser.post("/accounts/login/", {"username": "dora", "password": PASSWORD,
                                                 "csrfmiddlewaretoken": token},
                            HTTP_ORIGIN="https://evil.example.net")

    assert response.status_code == 403


def test_cookies_are_secure_and_hsts_is_sent_over_https(behind_proxy):
    browser = browser_via_proxy()
    page = browser.get("/accounts/login/")

    assert browser.cookies["csrftoken"]["secure"]
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    signed_in = browser.post("/accounts/login/", {"username": "dora", "password": PASSWORD,
                                                  "csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert signed_in.cookies["sessionid"]["secure"] and signed_in.cookies["sessionid"]["httponly"]


def test_plain_http_is_redirected_to_https_but_the_health_check_is_not(settings, db):
    for name, value in https_settings(PRODUCTION).items():
        setattr(settings, name, value)
    settings.ALLOWED_HOSTS = ["orbiter.example.com"]
    plain = Client(HTTP_HOST="orbiter.example.com")

    assert plain.get("/accounts/login/")["Location"] == "https://orbiter.example.com/accounts/login/"
    assert plain.get("/healthz").status_code == 200


@pytest.mark.parametrize("variable, value, allowed", [
    ("ORBITER_SECURE_COOKIES", "maybe", "allowed: 1 or 0"),
    ("ORBITER_HSTS_SECONDS", "a year", "whole number of seconds"),
    ("ORBITER_PROXY_SSL_HEADER", "X-Forwarded-Proto", "Header-Name=value"),
    ("ORBITER_CSRF_TRUSTED_ORIGINS", "orbiter.example.com", "scheme://host"),
    ("ORBITER_CSRF_TRUSTED_ORIGINS", "https://orbiter.example.com/path", "scheme://host"),
])
def test_a_bad_value_is_refused_naming_the_variable(variable, value, allowed):
    with pytest.raises(ImproperlyConfigured) as refusal:
        https_settings({variable: value})

    assert variable in str(refusal.value) and allowed in str(refusal.value)


def test_an_https_base_url_is_a_trusted_origin_by_default():
    assert https_settings({"ORBITER_BASE_URL": "https://orbiter.example.com/"})["CSRF_TRUSTED_ORIGINS"] == [
        "https://orbiter.example.com"]
    assert https_settings({"ORBITER_BASE_URL": "http://localhost:8000"})["CSRF_TRUSTED_ORIGINS"] == []


def test_the_variables_reach_django_settings():
    env = clean_environment()
    env.update(DJANGO_SETTINGS_MODULE="orbiter.settings", ORBITER_MODE="server", ORBITER_SECRET_KEY="k" * 60,
               **PRODUCTION)
    shown = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER, "
         "s.CSRF_TRUSTED_ORIGINS, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT)"],
        env=env, capture_output=True, text=True, timeout=60)

    assert shown.stdout.split("\n")[0] == (
        "('HTTP_X_FORWARDED_PROTO', 'https') ['https://orbiter.example.com'] True 31536000 True"), shown.stderr
