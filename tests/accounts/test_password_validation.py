"""Passwords are validated wherever one is set: at least 12 characters, not a common one,
not all digits, not like the user name — createsuperuser (prompt or environment),
changepassword and the admin's "add user" form. Found: any password was accepted."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

SHORT = "Xk3#p9q!Lm2"  # 11 characters, otherwise strong
GOOD = "violet-harbour-7-quartz"


@pytest.mark.parametrize("password, reason", [
    (SHORT, "at least 12 characters"),
    ("password1234", "too common"),
    ("738291046581", "entirely numeric"),
    ("margaret-hamilton", "too similar"),
])
def test_createsuperuser_refuses_a_weak_password_from_the_environment(monkeypatch, password, reason):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)

    with pytest.raises(CommandError, match=reason):
        call_command("createsuperuser", "--noinput", "--username", "margaret-hamilton", "--email", "m@example.com")

    assert not User.objects.exists()


def test_createsuperuser_accepts_a_long_uncommon_password(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", GOOD)

    call_command("createsuperuser", "--noinput", "--username", "root", "--email", "r@example.com")

    assert User.objects.get(username="root").check_password(GOOD)


def test_changepassword_refuses_a_short_password(monkeypatch):
    User.objects.create_user("dora", password=GOOD)
    typed = iter([SHORT, SHORT] * 3)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))

    with pytest.raises(CommandError, match="Aborting password change"):
        call_command("changepassword", "dora")

    assert User.objects.get(username="dora").check_password(GOOD)


def test_the_admin_refuses_to_add_a_user_with_a_short_password(client):
    client.force_login(User.objects.create_superuser("root", password=GOOD))

    response = client.post("/admin/auth/user/add/", {
        "username": "newcomer", "password1": SHORT, "password2": SHORT, "usable_password": "true",
    })

    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    assert not User.objects.filter(username="newcomer").exists()
