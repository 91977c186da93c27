"""Sign-in is throttled: five failures for one account, or from one client address, lock
further attempts out for the cool-off (the right password included); each lockout is one
audit Event; a success resets the count. Found: 30 wrong passwords in 14 s, then the right
one worked."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from orbiter.audit.models import Event

PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.django_db


@pytest.fixture
def dora(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    return User.objects.create_user("dora", password=PASSWORD)


def sign_in(password: str, *, username: str = "dora", address: str = "192.0.2.10", path: str = "/accounts/login/"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def test_the_right_password_is_refused_after_five_wrong_ones(dora):
    for _ in range(4):
        assert sign_in("wrong-password-1").status_code == 200
    locked = sign_in("wrong-password-1")

    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    refused = sign_in(PASSWORD)
    assert refused.status_code == 429 and not signed_in(refused)
    assert int(refused["Retry-After"]) == 15 * 60


def test_the_account_is_locked_from_every_address(dora):
    for index in range(5):
        sign_in("wrong-password-1", address=f"192.0.2.{index + 1}")

    assert sign_in(PASSWORD, address="198.51.100.7").status_code == 429


def test_one_address_guessing_many_accounts_is_locked_out(dora):
    for index in range(5):
        sign_in("wrong-password-1", username=f"guess{index}", address="203.0.113.9")

    assert sign_in(PASSWORD, address="203.0.113.9").status_code == 429
    assert signed_in(sign_in(PASSWORD, address="192.0.2.77"))


def test_the_lockout_ends_after_the_cool_off(dora):
    for _ in range(5):
        sign_in("wrong-password-1")
    assert sign_in(PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))  # the clock moves on

    assert signed_in(sign_in(PASSWORD))


def test_a_success_resets_the_count(dora):
    for _ in range(4):
        sign_in("wrong-password-1")
    assert signed_in(sign_in(PASSWORD))

    for _ in range(4):
        sign_in("wrong-password-1")
    assert signed_in(sign_in(PASSWORD))


def test_a_lockout_is_audited_once_with_the_account_and_the_address(dora):
    for _ in range(8):
        sign_in("wrong-password-1")
    sign_in(PASSWORD)

    events = list(Event.objects.filter(verb="signin.locked_out"))
    assert len(events) == 1
    event = events[0]
    assert (event.actor, event.object_type, event.object_id) == ("dora", "user", "dora")
    assert event.source_ip == "192.0.2.10"
    assert event.data["failures"] == 5 and event.data["ip_address"] == "192.0.2.10"


def test_the_admin_sign_in_is_throttled_too(dora):
    dora.is_staff = dora.is_superuser = True
    dora.save()
    for _ in range(5):
        sign_in("wrong-password-1", path="/admin/login/")

    assert sign_in(PASSWORD, path="/admin/login/").status_code == 429
