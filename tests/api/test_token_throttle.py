"""Bad API tokens are throttled by client address: after five unknown, expired or revoked
tokens from one address, that address is refused (429, Retry-After) for the cool-off, even
with a good token; other addresses are not; the lockout is one audit Event."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orbiter.accounts.tokens import token_create
from orbiter.audit.models import Event
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def good_token(fleet, cast, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    _, raw = token_create(user=User.objects.get(username="alice"), name="ci", actor="root")
    return raw


def call(token: str, address: str = "192.0.2.20"):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/me")


def test_a_good_token_is_refused_from_an_address_that_sent_five_bad_ones(good_token):
    for index in range(4):
        assert call(f"orb_guess{index}").status_code == 401
    assert call("orb_guess5").status_code == 429

    refused = call(good_token)
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "throttled"
    assert int(refused["Retry-After"]) == 15 * 60


def test_other_addresses_keep_working(good_token):
    for index in range(6):
        call(f"orb_guess{index}")

    assert call(good_token, address="198.51.100.8").status_code == 200


def test_a_token_lockout_is_audited_once_with_the_address(good_token):
    for index in range(9):
        call(f"orb_guess{index}")

    events = list(Event.objects.filter(verb="signin.locked_out"))
    assert len(events) == 1
    assert (events[0].object_type, events[0].object_id) == ("client", "192.0.2.20")
    assert events[0].data["failures"] == 5
