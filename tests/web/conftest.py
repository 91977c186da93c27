"""The cast of the web tests: users with each role, a fleet with an open environment
(`cert`) and a protected one (`production`), and a signed-in browser-like client per user.

The database is transactional (committed, flushed after each test): the engine's wake-ups
are queued on commit, as in production."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orbiter.accounts.services import role_grant
from tests.conftest import build_fleet

PASSWORD = "correct horse battery staple"


def user(name: str, role: str | None) -> User:
    person = User.objects.create_user(name, password=PASSWORD)
    if role:
        role_grant(role=role, actor="admin", user=name)
    return person


@pytest.fixture
def fleet(transactional_db, tasks):
    """shop-api on 2 hosts in cert and 2 in production (which needs approval). Tasks queued
    meanwhile (e.g. the pipeline's "artifact arrived") go to the in-memory queue, not a broker."""
    build_fleet(hosts=2, environment="cert")
    build_fleet(hosts=2, environment="production", requires_approval=True)


@pytest.fixture
def cast(transactional_db, settings):
    """viola (viewer by default), dora (deployer), dan (deployer), april (approver), ada (admin)."""
    settings.ORBITER_DEFAULT_ROLE = "viewer"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
    return {
        "viola": user("viola", None),
        "dora": user("dora", "deployer"),
        "dan": user("dan", "deployer"),
        "april": user("april", "approver"),
        "ada": user("ada", "admin"),
    }


def client_for(name: str) -> Client:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=name, password=PASSWORD)
    return client


def post(client: Client, url: str, data: dict | None = None, **kwargs):
    """POST as a browser does: with the CSRF token from the cookie a GET gave."""
    if "csrftoken" not in client.cookies:
        client.get("/")
    token = client.cookies["csrftoken"].value
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token}, **kwargs)


@pytest.fixture
def as_user(cast):
    return client_for
