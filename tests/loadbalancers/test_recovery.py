"""After a crash, hosts a deployment left disabled go back in service only if their health
check passes; the others are reported with the reason, and stay out."""

import pytest

from orbiter.catalog.models import Host, Pin
from orbiter.loadbalancers.base import DRAIN, UP, driver_for
from orbiter.loadbalancers.models import Pool
from orbiter.loadbalancers.recovery import reenable_if_healthy
from tests.conftest import build_fleet
from tests.health.support import App

pytestmark = pytest.mark.django_db

HOSTS = [f"shop-api-cert-0{i}" for i in (1, 2, 3)]


def left_disabled(**fleet):
    app, _ = build_fleet(hosts=3, **fleet)
    pool = Pool.objects.get(application=app)
    for certname in HOSTS:
        driver_for(pool).disable(certname)
    return app, pool, list(Host.objects.filter(certname__in=HOSTS))


def admin(pool, member):
    return driver_for(pool).state(member).admin


def test_healthy_hosts_are_enabled_and_unhealthy_ones_reported_and_left_out():
    app, pool, hosts = left_disabled(health_options={"unhealthy_hosts": ["shop-api-cert-02"]})

    result = reenable_if_healthy(application=app, hosts=hosts)

    assert result.enabled == ["shop-api-cert-01", "shop-api-cert-03"]
    assert result.left_out == {"shop-api-cert-02": "health check failed: shop-api-cert-02: simulated health check fails"}
    assert [admin(pool, m) for m in HOSTS] == [UP, DRAIN, UP]


def test_a_member_the_load_balancer_refuses_is_reported():
    app, pool, hosts = left_disabled()
    pool.options = {"fail_members": ["shop-api-cert-03"]}
    pool.save()

    result = reenable_if_healthy(application=app, hosts=hosts)

    assert result.enabled == HOSTS[:2]
    assert result.left_out["shop-api-cert-03"].startswith("shop-api-cert/shop-api-cert-03: enable failed: ")


def test_the_check_expects_the_version_each_host_is_pinned_to():
    server = App()
    try:
        server.body = b"shop-api 1.1.0-1"
        app, pool, hosts = left_disabled(health="http", health_options={
            "url": f"http://127.0.0.1:{server.port}/version", "expected_text": "{version}", "retries": 0})
        artifacts = {a.label: a for a in app.artifacts.all()}
        Pin.objects.create(host=hosts[0], application=app, artifact=artifacts["1.1.0-1"])
        Pin.objects.create(host=hosts[1], application=app, artifact=artifacts["1.0.0-1"])

        result = reenable_if_healthy(application=app, hosts=hosts[:2])
    finally:
        server.stop()

    assert result.enabled == ["shop-api-cert-01"]
    assert "does not contain '1.0.0-1'" in result.left_out["shop-api-cert-02"]
    assert [admin(pool, m) for m in HOSTS[:2]] == [UP, DRAIN]
