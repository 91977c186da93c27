"""The f5 driver against a fake BIG-IP on 127.0.0.1 (HTTPS, private CA made per test)."""

import logging
import socket

import pytest

from orbiter.common.errors import DriverError, ValidationError
from orbiter.loadbalancers.base import DOWN, DRAIN, UP, MemberState
from orbiter.loadbalancers.drivers.f5 import F5LoadBalancer
from tests.loadbalancers.contract import LoadBalancerContract
from tests.loadbalancers.fake_bigip import FakeBigIP

MEMBERS = {"web01": "web01:8080", "web02": "web02:8080"}


@pytest.fixture
def bigip():
    with FakeBigIP() as fake:
        yield fake


def f5(bigip: FakeBigIP, **options) -> F5LoadBalancer:
    base = {"url": bigip.url, "username": bigip.username, "password": bigip.password,
            "ca_file": bigip.ca_file, "pool": "shop", "members": MEMBERS, "timeout_s": 5}
    return F5LoadBalancer("shop-api-cert", {**base, **options})


@pytest.fixture
def driver(bigip):
    return f5(bigip)


@pytest.fixture
def members():
    return list(MEMBERS)


@pytest.fixture
def connections(bigip):
    """Clients through the (fake) virtual server; how many the BIG-IP gave `member`."""
    def open_(member: str, count: int) -> int:
        return bigip.open_connections("/Common/shop", count)[f"/Common/{MEMBERS[member]}"]

    return open_


class TestF5Contract(LoadBalancerContract):
    # A real BIG-IP name (name:port) the pool lacks, so the 404 path is what answers.
    unknown_member = "web09:8080"


def test_it_logs_in_once_and_reuses_the_token(bigip, driver):
    driver.disable("web01")
    driver.state("web01")
    f5(bigip).enable("web02")  # a later driver (the next engine step) shares the token

    assert bigip.logins == 1
    assert [r for r in bigip.requests if r[1] != "/mgmt/shared/authn/login"] == [
        ("PATCH", "/mgmt/tm/ltm/pool/~Common~shop/members/~Common~web01:8080", "token"),
        ("GET", "/mgmt/tm/ltm/pool/~Common~shop/members/~Common~web01:8080", "token"),
        ("GET", "/mgmt/tm/ltm/pool/~Common~shop/members/~Common~web01:8080/stats", "token"),
        ("PATCH", "/mgmt/tm/ltm/pool/~Common~shop/members/~Common~web02:8080", "token"),
    ]


def test_an_expired_token_means_one_fresh_login_and_the_call_succeeds(bigip, driver):
    driver.disable("web01")
    bigip.expire_tokens()

    driver.enable("web01")

    assert bigip.logins == 2
    assert driver.state("web01").admin == UP


def test_a_401_even_after_a_fresh_login_is_permanent(bigip, driver):
    bigip.token_timeout = 0  # every token is dead on arrival

    with pytest.raises(DriverError) as error:
        driver.disable("web01")

    assert error.value.permanent
    assert "X-F5-Auth-Token has expired" in error.value.message
    assert bigip.logins == 2  # one retry, not a loop


def test_a_wrong_password_is_a_permanent_error_that_does_not_repeat_it(bigip, caplog):
    caplog.set_level(logging.DEBUG)

    with pytest.raises(DriverError) as error:
        f5(bigip, password="not-the-password").disable("web01")

    assert error.value.permanent
    assert "Authentication failed." in error.value.message
    assert "not-the-password" not in error.value.message + caplog.text
    assert bigip.logins == 0


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_transient(bigip, driver, status):
    bigip.fail_next(status)

    with pytest.raises(DriverError) as error:
        driver.disable("web01")

    assert not error.value.permanent
    assert f"said {status}" in error.value.message
    driver.disable("web01")  # and the next try goes through
    assert driver.state("web01").admin == DRAIN


def test_an_unknown_member_is_a_permanent_error_naming_it(bigip):
    driver = f5(bigip, members={**MEMBERS, "web09": "web09:8080"})

    with pytest.raises(DriverError) as error:
        driver.disable("web09")

    assert error.value.permanent
    assert "web09" in error.value.message
    assert "01020036:3: The requested Pool Member (/Common/shop /Common/web09 8080) was not found." in error.value.message


def test_an_unknown_pool_is_a_permanent_error(bigip):
    with pytest.raises(DriverError) as error:
        f5(bigip, pool="no-such-pool").state("web01")

    assert error.value.permanent
    assert "The requested Pool (/Common/no-such-pool) was not found." in error.value.message


def test_a_member_without_a_port_is_refused_before_any_request(bigip):
    with pytest.raises(DriverError) as error:
        f5(bigip, members={}).disable("web01")

    assert error.value.permanent
    assert "'web01'" in error.value.message and "options.members" in error.value.message
    assert bigip.requests == []


def test_certificates_are_verified_by_default(bigip):
    untrusting = f5(bigip, ca_file=None)

    with pytest.raises(DriverError) as error:
        untrusting.disable("web01")

    assert error.value.permanent
    assert "ca_file" in error.value.message
    assert bigip.logins == 0


def test_the_private_ca_in_ca_file_is_trusted(bigip, driver):
    driver.disable("web01")

    assert driver.state("web01").admin == DRAIN


def test_turning_verification_off_works_and_is_logged_as_a_warning(bigip, caplog):
    options = {"url": bigip.url, "username": bigip.username, "password": bigip.password,
               "pool": "shop", "members": MEMBERS, "verify": False}

    F5LoadBalancer("shop-api-cert", options).disable("web01")

    assert bigip.member("/Common/web01:8080")["session"] == "user-disabled"
    assert any(r.levelno == logging.WARNING and "verification is OFF" in r.getMessage() for r in caplog.records)


def test_open_connections_are_reported_while_draining(bigip, driver):
    bigip.set_connections("/Common/web01:8080", 7)

    answer = driver.drain_many(["web01"])

    assert answer == {"web01": MemberState(admin=DRAIN, connections=7, health=UP)}
    bigip.set_connections("/Common/web01:8080", 0)
    assert driver.state("web01").connections == 0


def test_health_is_what_the_monitor_says(bigip, driver):
    bigip.set_monitor("/Common/web02:8080", "down")

    assert driver.state("web02").health == DOWN
    assert driver.state("web01").health == UP


def test_force_down_takes_a_member_offline_and_enable_brings_it_back(bigip, driver):
    driver.force_down("web01")
    assert driver.state("web01").admin == DOWN
    assert bigip.member("/Common/web01:8080")["state"] == "user-down"

    driver.enable("web01")

    assert driver.state("web01").admin == UP
    assert bigip.member("/Common/web01:8080")["session"] == "monitor-enabled"


def test_the_partition_is_part_of_the_pool_and_member_paths():
    pools = {"/Tenant1/shop": ["/Tenant1/web01:443", "/Common/shared01:443"]}
    with FakeBigIP(pools=pools) as bigip:
        driver = f5(bigip, partition="Tenant1", members={"web01": "web01:443", "shared01": "/Common/shared01:443"})

        driver.disable("web01")
        driver.disable("shared01")

        paths = [path for _, path, _ in bigip.requests if "ltm" in path]
        assert paths == ["/mgmt/tm/ltm/pool/~Tenant1~shop/members/~Tenant1~web01:443",
                         "/mgmt/tm/ltm/pool/~Tenant1~shop/members/~Common~shared01:443"]
        assert bigip.member("/Common/shared01:443")["session"] == "user-disabled"


def test_basic_auth_sends_the_credentials_on_each_call_and_never_logs_in(bigip):
    driver = f5(bigip, auth="basic")

    driver.disable("web01")
    assert driver.state("web01").admin == DRAIN

    assert bigip.logins == 0
    assert {kind for _, _, kind in bigip.requests} == {"basic"}


def test_basic_auth_with_a_wrong_password_is_permanent(bigip):
    with pytest.raises(DriverError) as error:
        f5(bigip, auth="basic", password="nope").disable("web01")

    assert error.value.permanent


def test_the_password_can_come_from_a_file(bigip, tmp_path):
    secret = tmp_path / "bigip-password"
    secret.write_text(bigip.password + "\n")
    options = {"url": bigip.url, "username": bigip.username, "password_file": str(secret),
               "ca_file": bigip.ca_file, "pool": "shop", "members": MEMBERS}

    F5LoadBalancer("shop-api-cert", options).disable("web01")

    assert bigip.member("/Common/web01:8080")["session"] == "user-disabled"


def test_neither_password_nor_token_reaches_the_log(bigip, driver, caplog):
    caplog.set_level(logging.DEBUG)
    driver.disable("web01")
    bigip.expire_tokens()
    driver.enable("web01")

    assert bigip.password not in caplog.text
    assert "X-F5-Auth-Token" not in caplog.text


def test_a_refused_connection_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    driver = F5LoadBalancer("p", {"url": f"https://127.0.0.1:{port}", "username": "u", "password": "p",
                                  "members": MEMBERS})

    with pytest.raises(DriverError) as error:
        driver.state("web01")

    assert not error.value.permanent


def test_a_bigip_that_does_not_answer_is_a_transient_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the TCP connection, never says a word
        driver = F5LoadBalancer("p", {"url": f"https://127.0.0.1:{silent.getsockname()[1]}", "username": "u",
                                      "password": "p", "members": MEMBERS, "timeout_s": 0.3})

        with pytest.raises(DriverError) as error:
            driver.state("web01")

    assert not error.value.permanent


@pytest.mark.parametrize(("change", "option"), [
    ({"url": "http://bigip.example"}, "url"),
    ({"url": "https://bigip.example/mgmt"}, "url"),
    ({"url": None}, "url"),
    ({"username": ""}, "username"),
    ({"password": None}, "password"),
    ({"password_file": "/nonexistent/secret"}, "password"),  # both given
    ({"auth": "oauth"}, "auth"),
    ({"partition": "Common/evil"}, "partition"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"timeout_s": "10"}, "timeout_s"),
    ({"verify": "no"}, "verify"),
    ({"verify": False}, "verify"),  # with ca_file, which would be ignored
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
    ({"members": {"web01": "web01"}}, "members"),
    ({"members": ["web01:80"]}, "members"),
    ({"pasword": "typo"}, "pasword"),
])
def test_bad_options_are_refused_naming_the_option(bigip, change, option):
    options = {"url": bigip.url, "username": "u", "password": "p", "ca_file": bigip.ca_file, **change}

    with pytest.raises(ValidationError) as error:
        F5LoadBalancer("shop", options)

    assert f"'{option}'" in error.value.message
    assert error.value.extra["field"] == f"options.{option}"
