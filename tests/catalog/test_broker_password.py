"""`orbiter agents broker-password HOST`: a host's broker password, derived from the broker
secret, audited; a missing or weak secret is a clear error, not a password."""

import pytest

from orbiter.audit.models import Event
from orbiter.bus.credentials import broker_password
from orbiter.catalog.agents import agent_broker_password
from orbiter.common.errors import NotFound, ValidationError
from tests.conftest import build_fleet
from tests.deployments.support import host

pytestmark = pytest.mark.django_db

SECRET = "s" * 48


@pytest.fixture
def secret_file(tmp_path, settings):
    path = tmp_path / "orbiter-broker.secret"
    path.write_text(f"{SECRET}\n{'o' * 48}\n")  # current secret first, an earlier one below
    settings.ORBITER_STOMP_SECRET_FILE = str(path)
    return path


def test_it_derives_the_hosts_password_from_the_current_secret_and_records_who_asked(secret_file):
    build_fleet(hosts=1)

    password = agent_broker_password(certname=host(1), actor="alice")

    assert password == broker_password(SECRET.encode(), host(1))
    assert Event.objects.filter(verb="agent.broker_password", actor="alice").count() == 1


def test_without_a_secret_it_names_the_setting_and_records_nothing(settings):
    build_fleet(hosts=1)
    settings.ORBITER_STOMP_SECRET_FILE = ""

    with pytest.raises(ValidationError, match="ORBITER_STOMP_SECRET_FILE is not set"):
        agent_broker_password(certname=host(1), actor="alice")
    assert not Event.objects.filter(verb="agent.broker_password").exists()


def test_a_secret_too_short_to_be_safe_is_refused(secret_file):
    build_fleet(hosts=1)
    secret_file.write_text("short\n")

    with pytest.raises(ValidationError, match="at least 32 bytes"):
        agent_broker_password(certname=host(1), actor="alice")


def test_an_unknown_host_gets_no_password(secret_file):
    with pytest.raises(NotFound):
        agent_broker_password(certname="nobody.example.test", actor="alice")
