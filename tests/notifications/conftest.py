import pytest

from tests.notifications.support import HOOK_KEY, Receiver


@pytest.fixture(autouse=True)
def _notify_settings(settings, monkeypatch):
    settings.ORBITER_BASE_URL = "https://orbiter.example"
    settings.ORBITER_NOTIFY_BACKOFF_SECONDS = 0.01
    settings.ORBITER_NOTIFY_MAX_ATTEMPTS = 3
    settings.ORBITER_NOTIFY_TIMEOUT_SECONDS = 2
    monkeypatch.setenv("ORBITER_TEST_HOOK_KEY", HOOK_KEY)


@pytest.fixture
def make_receiver():
    """make_receiver(*statuses, default=200, hang=False) -> a running Receiver, stopped after the test."""
    started = []

    def make(*statuses, **options):
        started.append(Receiver(*statuses, **options))
        return started[-1]

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def receiver(make_receiver):
    return make_receiver()
