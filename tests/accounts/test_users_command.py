"""`orbiter users create NAME`: a user for CI without a password (it acts through API
tokens), audited with who ran it; a bad or taken name is refused, naming it."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from orbiter.audit.models import Event

pytestmark = pytest.mark.django_db


def orbiter(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*argv, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_create_makes_a_user_who_cannot_sign_in_with_a_password():
    code, out, _ = orbiter("users", "create", "jenkins", "--as", "alice")

    assert code == 0 and "user jenkins created" in out
    jenkins = User.objects.get(username="jenkins")
    assert not jenkins.has_usable_password() and not jenkins.is_superuser
    assert Event.objects.filter(verb="user.create", actor="alice").exists()
    assert "jenkins" in orbiter("users", "list")[1]


@pytest.mark.parametrize("name, message", [("jen kins", "username:"), ("", "create needs a NAME")])
def test_a_bad_name_is_refused_naming_it(name, message):
    code, _, err = orbiter("users", "create", *([name] if name else []), "--as", "alice")

    assert code == 2 and message in err
    assert not User.objects.exists()


def test_a_taken_name_is_refused():
    orbiter("users", "create", "jenkins", "--as", "alice")

    code, _, err = orbiter("users", "create", "jenkins", "--as", "alice")

    assert code == 2 and "jenkins" in err
    assert User.objects.count() == 1
