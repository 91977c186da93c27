"""The http health check against a real HTTP server on 127.0.0.1."""

import pytest

from orbiter.common.errors import DriverError
from orbiter.health.base import registry


def http(app, **options):
    return registry.get("http")({"url": f"http://127.0.0.1:{app.port}/health", "retry_delay_s": 0, **options})


def test_it_passes_when_the_status_is_the_expected_one(app):
    assert http(app).check("web01", "1.1.0-1") == f"GET http://127.0.0.1:{app.port}/health: 200"


def test_it_fails_on_another_status_and_says_which(app):
    app.status = 500
    with pytest.raises(DriverError) as caught:
        http(app, retries=0).check("web01", "1.1.0-1")
    assert "status 500, expected 200" in caught.value.message
    assert not caught.value.permanent  # the engine retries the step


def test_it_accepts_the_status_it_is_told_to_expect(app):
    app.status = 204
    app.body = b""
    assert ": 204" in http(app, expected_status=204).check("web01", "1.1.0-1")


def test_it_requires_the_new_version_in_the_body(app):
    app.body = b'{"version": "1.0.0-1"}'
    check = http(app, expected_text='"version": "{version}"', retries=0)
    with pytest.raises(DriverError) as caught:
        check.check("web01", "1.1.0-1")
    assert "does not contain '\"version\": \"1.1.0-1\"'" in caught.value.message
    app.body = b'{"version": "1.1.0-1"}'
    assert "body contains" in check.check("web01", "1.1.0-1")


def test_it_substitutes_certname_and_version_in_the_url(app):
    check = registry.get("http")({"url": f"http://{{certname}}:{app.port}/v/{{version}}"})
    assert check.check("127.0.0.1", "2.0.0-1") == f"GET http://127.0.0.1:{app.port}/v/2.0.0-1: 200"


def test_it_retries_a_backend_that_is_still_starting(app):
    app.failures_left = 2
    assert ": 200" in http(app, retries=2).check("web01", "1.1.0-1")
    assert app.requests == 3


def test_it_gives_up_after_its_retries_and_counts_them(app):
    app.failures_left = 10
    with pytest.raises(DriverError) as caught:
        http(app, retries=2).check("web01", "1.1.0-1")
    assert app.requests == 3
    assert "status 503" in caught.value.message and "after 3 tries" in caught.value.message


def test_a_slow_answer_is_a_timeout(app):
    app.delay_s = 1.0
    with pytest.raises(DriverError) as caught:
        http(app, timeout_s=0.2, retries=0).check("web01", "1.1.0-1")
    assert "timed out" in caught.value.message
    assert not caught.value.permanent


def test_a_closed_port_is_a_transient_failure(app):
    port = app.port
    app.stop()
    with pytest.raises(DriverError) as caught:
        registry.get("http")({"url": f"http://127.0.0.1:{port}/health", "retries": 0}).check("web01", "1")
    assert f"GET http://127.0.0.1:{port}/health" in caught.value.message
    assert "refused" in caught.value.message.lower()
    assert not caught.value.permanent


def test_it_does_not_follow_redirects(app):
    with pytest.raises(DriverError) as caught:
        registry.get("http")({"url": f"http://127.0.0.1:{app.port}/moved", "retries": 0}).check("web01", "1")
    assert "status 302, expected 200" in caught.value.message
    assert app.requests == 0  # /health was never asked
