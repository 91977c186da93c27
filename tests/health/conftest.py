import pytest

from tests.health.support import App


@pytest.fixture
def app():
    server = App()
    yield server
    server.stop()
