"""The admin's tests sign in as a superuser and post the admin's real forms."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.web.admin.support import ADMIN


@pytest.fixture
def admin_client(transactional_db):
    User.objects.create_superuser(ADMIN, password="not used: force_login")
    client = Client()
    client.force_login(User.objects.get(username=ADMIN))
    return client
