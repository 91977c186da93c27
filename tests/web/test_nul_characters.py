"""A NUL character anywhere a client can put one — a filter, a search, a form field, its
name, the path, a header — gets a 400 naming where it was, and nothing is written.
PostgreSQL cannot store NUL: found as 500s on the web filters, the audit search and the
lock form. Run on PostgreSQL (./lab/test)."""

import pytest
from django.test import Client

from orbiter.audit.models import Event
from tests.web.conftest import client_for, post

NUL = "bad\x00value"

SEARCHES = [
    ("/audit/", "q"), ("/audit/", "actor"), ("/audit/", "before"),
    ("/deployments/", "environment"), ("/deployments/", "application"), ("/deployments/", "status"),
    ("/deployments/", "before"),
    ("/applications/shop-api/", "status"), ("/applications/shop-api/", "before"),
    ("/applications/shop-api/", "environment"),
    ("/deploy/", "application"), ("/deploy/", "environment"), ("/deploy/", "version"),
    ("/", "next"),
]

FORMS = [
    ("/environments/cert/lock", {"reason": NUL}, "reason"),
    ("/environments/cert/unlock", {"next": NUL}, "next"),
    ("/deploy/", {"application": "shop-api", "environment": "cert", "version": "1.0.0-1", "comment": NUL},
     "comment"),
    ("/deploy/preview", {"application": NUL}, "application"),
    ("/deploy/", {"application": "shop-api", "environment": "cert", "version": "1.0.0-1", "bad\x00name": "x"},
     "bad\\x00name"),
]


def assert_refused(response, where: str) -> None:
    assert response.status_code == 400, response.content[:200]
    assert response.content.decode() == f"{where}: NUL characters are not allowed"


@pytest.mark.parametrize("url, parameter", SEARCHES)
def test_a_nul_in_a_filter_is_a_400_naming_it(fleet, cast, url, parameter):
    assert_refused(client_for("ada").get(url, {parameter: NUL}), parameter)


@pytest.mark.parametrize("url, data, where", FORMS)
def test_a_nul_in_a_form_is_a_400_naming_the_field_and_nothing_is_written(fleet, cast, url, data, where):
    from orbiter.catalog.models import Environment
    from orbiter.deployments.models import Deployment

    before = Event.objects.count()

    assert_refused(post(client_for("ada"), url, data), where)

    assert Event.objects.count() == before
    assert not Deployment.objects.exists()
    assert not Environment.objects.exclude(lock_reason="").exists()


def test_a_nul_in_the_sign_in_form_is_a_400_and_counts_no_failure(db):
    from axes.models import AccessAttempt

    response = Client().post("/accounts/login/", {"username": "dora\x00", "password": "x"})

    assert_refused(response, "username")
    assert not AccessAttempt.objects.exists()


def test_a_nul_in_the_path_is_a_400(db):
    assert_refused(Client().get("/puppet/enc/web-01%00.example.com"), "path")


def test_a_nul_in_a_header_is_a_400_naming_it(db):
    response = Client(HTTP_USER_AGENT="curl\x00").post("/accounts/login/", {"username": "dora", "password": "x"})

    assert_refused(response, "header User-Agent")


def test_a_nul_free_request_still_works(fleet, cast):
    assert client_for("ada").get("/audit/", {"q": "deployment"}).status_code == 200
