"""Orbiter's web (the real gunicorn process, serving the ENC) down for 10 s while a
deployment allowing one attempt per host starts: real agents run real `puppet apply`,
whose `orbiter-enc` waits for the web within its patience, so every host converges in its
first attempt and the deployment succeeds. On the old code each run failed at once and used
up the host's only attempt."""

import os
import shutil
import time

import pytest

from lab.services import ActiveMQ, started
from orbiter.catalog.models import Application
from orbiter.core import liveness
from orbiter.deployments import services, states
from orbiter.deployments.models import HostDeployment
from tests.integration.test_agents_end_to_end import Stack, finish
from tests.integration.test_wait_through_outage import Web

pytestmark = pytest.mark.integration

ENC_TOKEN = "enc-token-for-the-test"  # the token Stack gives its ENC script


@pytest.fixture
def stack_behind_a_web(live_env, settings, tmp_path):
    missing = [w for w, ok in (("ActiveMQ", ActiveMQ.installed()), ("puppet", shutil.which("puppet"))) if not ok]
    if missing:
        if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{', '.join(missing)} required (ORBITER_REQUIRE_SERVICES=1) but not installed")
        pytest.skip(f"{', '.join(missing)} not installed: run the suite with ./lab/test")
    web = Web({**live_env, "ORBITER_ENC_TOKEN": ENC_TOKEN}, tmp_path)
    web.start()
    stack = None
    try:
        with started(ActiveMQ(tmp_path / "amq")) as (amq,):
            stack = Stack(tmp_path, live_env, web, settings, amq, hosts=2, sleep=0)  # its ENC asks `web`
            yield stack, web
    finally:
        if stack:
            stack.stop()
        web.stop()


def test_a_ten_second_web_outage_does_not_fail_a_deployment_allowing_one_attempt(stack_behind_a_web):
    stack, web = stack_behind_a_web
    app = Application.objects.get(name="shop-api")
    app.rollout_defaults = {**app.rollout_defaults, "max_attempts": 1}
    app.save(update_fields=["rollout_defaults"])

    web.stop()
    pk = services.deployment_create(application="shop-api", environment="cert", version="1.1.0-1", actor="alice",
                                    strategy={"batch_size": "2"}).pk
    time.sleep(10)  # the outage itself: Puppet runs start and wait for the ENC meanwhile
    web.start()
    done = finish(stack, pk)

    assert done.status == states.SUCCEEDED, (done.message, stack.logs())
    assert [stack.version_on(c) for c in stack.certnames] == ["1.1.0-1", "1.1.0-1"]
    hosts = HostDeployment.objects.filter(deployment_id=pk)
    assert {(hd.attempt, hd.round, hd.puppet["kind"]) for hd in hosts} == {(1, 1, "changed")}
    # The runs did meet the outage: their ENC waited for the web.
    assert all(hd.puppet["duration_s"] >= 4 for hd in hosts), [hd.puppet["duration_s"] for hd in hosts]
    # /healthz would show the reply listener, the scheduler and the worker alive (their beats).
    assert {role: entry["state"] for role, entry in liveness.report().items()} == {
        "scheduler": "ok", "worker": "ok", "listener": "ok"}


@pytest.fixture
def short_enc_patience(monkeypatch):
    """The agents (and so Puppet and its ENC) inherit it: the ENC gives up after 2 s."""
    monkeypatch.setenv("ORBITER_ENC_PATIENCE_S", "2")


def test_a_web_outage_past_the_enc_s_patience_is_retried_without_using_up_the_attempt(short_enc_patience,
                                                                                        stack_behind_a_web):
    stack, web = stack_behind_a_web
    app = Application.objects.get(name="shop-api")
    app.rollout_defaults = {**app.rollout_defaults, "max_attempts": 1}
    app.save(update_fields=["rollout_defaults"])

    web.stop()
    pk = services.deployment_create(application="shop-api", environment="cert", version="1.1.0-1", actor="alice",
                                    strategy={"batch_size": "2"}).pk
    deadline = time.monotonic() + 120
    while HostDeployment.objects.filter(deployment_id=pk, round__gte=2).count() < 2:  # both retried once
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(0.2)
    retried = list(HostDeployment.objects.filter(deployment_id=pk))
    web.start()
    done = finish(stack, pk)

    assert all("Orbiter's ENC" in hd.error and "without using up the attempt" in hd.error for hd in retried)
    assert done.status == states.SUCCEEDED, (done.message, stack.logs())
    assert [stack.version_on(c) for c in stack.certnames] == ["1.1.0-1", "1.1.0-1"]
    assert {hd.attempt for hd in HostDeployment.objects.filter(deployment_id=pk)} == {1}
