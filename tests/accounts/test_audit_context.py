"""Every Event written while serving a request carries the client's IP — also those written
by code that knows nothing about requests; a forwarded-for header counts only from a trusted proxy."""

import pytest
from django.test import RequestFactory

from orbiter.audit.context import source_ip
from orbiter.audit.middleware import client_ip
from orbiter.audit.models import Event

pytestmark = pytest.mark.django_db


def test_events_created_anywhere_in_the_context_carry_the_ip_even_in_bulk():
    with source_ip("192.0.2.7"):
        Event.objects.create(actor="a", verb="x", object_type="t", object_id="1")
        Event.objects.bulk_create([Event(actor="engine", verb="y", object_type="t", object_id="2")])
    Event.objects.create(actor="worker", verb="z", object_type="t", object_id="3")

    assert list(Event.objects.order_by("id").values_list("source_ip", flat=True)) == [
        "192.0.2.7", "192.0.2.7", None]


@pytest.mark.parametrize("remote, forwarded, trusted, expected", [
    ("203.0.113.5", "", [], "203.0.113.5"),
    ("203.0.113.5", "1.2.3.4", [], "203.0.113.5"),  # an untrusted client cannot choose its address
    ("10.0.0.1", "198.51.100.9, 10.0.0.2", ["10.0.0.1", "10.0.0.2"], "198.51.100.9"),
    ("10.0.0.1", "not-an-ip", ["10.0.0.1"], "10.0.0.1"),
])
def test_the_client_ip_believes_forwarded_for_only_from_trusted_proxies(settings, remote, forwarded, trusted,
                                                                         expected):
    settings.ORBITER_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected
