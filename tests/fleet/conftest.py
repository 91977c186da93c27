import pytest


@pytest.fixture
def users(django_user_model):
    """The people role bindings name (users come from sign-in; they are not created by apply)."""
    return {name: django_user_model.objects.create_user(username=name) for name in ("ada", "bob")}
