"""The tcp health check against a real listening socket on 127.0.0.1."""

import socket

import pytest

from lab.services import free_port
from orbiter.common.errors import DriverError
from orbiter.health.base import registry


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def test_it_passes_when_the_port_accepts_a_connection(listener):
    port = listener.getsockname()[1]
    check = registry.get("tcp")({"port": port, "host": "127.0.0.1"})
    assert check.check("web01", "1.1.0-1") == f"TCP 127.0.0.1:{port}: connection accepted"


def test_it_dials_the_certname_by_default(listener):
    port = listener.getsockname()[1]
    assert "accepted" in registry.get("tcp")({"port": port}).check("127.0.0.1", "1.1.0-1")


def test_the_host_option_may_derive_from_the_certname(listener):
    port = listener.getsockname()[1]
    check = registry.get("tcp")({"port": port, "host": "{certname}.0.0.1"})
    assert f"127.0.0.1:{port}" in check.check("127", "1")


def test_a_closed_port_fails_after_the_retries(monkeypatch):
    port = free_port()  # nobody listens there
    check = registry.get("tcp")({"port": port, "host": "127.0.0.1", "retries": 1, "retry_delay_s": 0})
    with pytest.raises(DriverError) as caught:
        check.check("web01", "1")
    assert caught.value.message.startswith(f"TCP 127.0.0.1:{port}: ")
    assert "refused" in caught.value.message.lower() and "after 2 tries" in caught.value.message
    assert not caught.value.permanent
