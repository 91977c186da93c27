"""Bad health-check options are refused with a message naming the option and what is allowed;
the engine's entry point turns them into a check that fails the host permanently."""

import pytest

from orbiter.catalog.models import Application
from orbiter.common.errors import DriverError, ValidationError
from orbiter.health.base import driver_for, validate_options


@pytest.mark.parametrize(
    "driver, options, field, words",
    [
        ("http", {}, "options.url", "is required"),
        ("http", {"url": "ftp://{certname}/x"}, "options.url", "http:// or https://"),
        ("http", {"url": "http://{host}/health"}, "options.url", "unknown placeholder {host}"),
        ("http", {"url": "http://{certname/health"}, "options.url", "not a valid template"),
        ("http", {"url": "http://a/", "expected_status": "200"}, "options.expected_status", "from 100 to 599"),
        ("http", {"url": "http://a/", "expected_text": "{certname}"}, "options.expected_text", "allowed: {version}"),
        ("http", {"url": "http://a/", "timeout_s": 0}, "options.timeout_s", "above 0 and at most 60"),
        ("http", {"url": "http://a/", "retries": 11}, "options.retries", "from 0 to 10"),
        ("http", {"url": "http://a/", "retry_delay_s": -1}, "options.retry_delay_s", "at least 0"),
        ("http", {"url": "http://a/", "ca_file": "relative.pem"}, "options.ca_file", "absolute path"),
        ("http", {"url": "http://a/", "expect_status": 200}, "options.expect_status", "allowed: ca_file, expected_status"),
        ("tcp", {}, "options.port", "is required"),
        ("tcp", {"port": 70000}, "options.port", "from 1 to 65535"),
        ("tcp", {"port": 80, "host": "a b"}, "options.host", "host name or IP address"),
        ("tcp", {"port": 80, "url": "x"}, "options.url", "not an option of the tcp health check"),
    ],
)
def test_a_bad_option_is_refused_naming_it(driver, options, field, words):
    with pytest.raises(ValidationError) as caught:
        validate_options(driver, options)
    assert caught.value.extra["field"] == field
    assert field.split(".")[1] in caught.value.message and words in caught.value.message


def test_good_options_pass():
    validate_options("http", {"url": "https://{certname}:8443/status", "expected_text": "{version}",
                              "expected_status": 200, "timeout_s": 2, "retries": 0, "retry_delay_s": 0})
    validate_options("tcp", {"port": 5432, "host": "10.0.0.5", "timeout_s": 0.5})


def test_a_misconfigured_check_fails_the_host_permanently_with_the_reason():
    app = Application(name="shop-api", package="shop-api", health_driver="http",
                      health_options={"url": "http://{certname}/", "retries": "3"})
    with pytest.raises(DriverError) as caught:
        driver_for(app).check("web01", "1.1.0-1")
    assert caught.value.permanent
    assert "health check misconfigured" in caught.value.message and "`retries`" in caught.value.message


def test_an_unknown_driver_fails_the_host_permanently_naming_the_known_ones():
    app = Application(name="shop-api", package="shop-api", health_driver="htttp", health_options={})
    with pytest.raises(DriverError) as caught:
        driver_for(app).check("web01", "1.1.0-1")
    assert caught.value.permanent and "'htttp' is unknown" in caught.value.message and "tcp" in caught.value.message
