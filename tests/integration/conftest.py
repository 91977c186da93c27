"""Integration tests run against the real services `lab/test` starts (PostgreSQL, Redis...).

Without them (a bare `pytest`), they are skipped with the reason; with
ORBITER_REQUIRE_SERVICES=1 (set by lab/test and CI) a missing service is an error.
"""

import os

import pytest
from django.conf import settings


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required (ORBITER_REQUIRE_SERVICES=1) but not configured")
    pytest.skip(f"{what} not available: run the suite with ./lab/test")


@pytest.fixture
def live_env(transactional_db, tmp_path):
    """Environment for Orbiter subprocesses sharing this test's PostgreSQL database and Redis."""
    db = settings.DATABASES["default"]
    _require("PostgreSQL", db["ENGINE"] == "django.db.backends.postgresql")
    broker = os.environ.get("ORBITER_BROKER_URL", "")
    _require("Redis", broker.startswith("redis://"))
    import redis

    redis.Redis.from_url(broker).flushdb()  # no task left over from an earlier test
    url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        "ORBITER_MODE": "server",
        "ORBITER_SECRET_KEY": "integration-test-secret",
        "ORBITER_DATABASE_URL": url,
        "ORBITER_BROKER_URL": broker,
        "ORBITER_SWEEP_SECONDS": "1",
        "ORBITER_STALE_SECONDS": "3",
        "ORBITER_VISIBILITY_TIMEOUT": "10",
        "DJANGO_SETTINGS_MODULE": "orbiter.settings",
    }


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A real ActiveMQ for the test module, secured as in production (lab/services.py):
    `broker.control_plane` and `broker.credentials(certname)` are the logins."""
    from lab.services import ActiveMQ, started

    _require("ActiveMQ (apt-get install activemq default-jdk-headless)", ActiveMQ.installed())
    with started(ActiveMQ(tmp_path_factory.mktemp("amq"))) as (amq,):
        yield amq
