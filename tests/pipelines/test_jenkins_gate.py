"""The Jenkins gate triggers a parameterized build, follows it to its end and links it
(against tests/pipelines/fake_jenkins.py, written from Jenkins' remote API documentation)."""

import pytest

from orbiter.pipelines import states
from tests.pipelines.fake_jenkins import FakeJenkins, JobScript
from tests.pipelines.support import define, fleet, gate, publish, versions_pinned, wait_for, why

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def jenkins(monkeypatch):
    fake = FakeJenkins()
    monkeypatch.setenv("JENKINS_TOKEN", fake.token)
    yield fake
    fake.stop()


def _pipeline(jenkins: FakeJenkins, job: str = "shop/selenium", **extra) -> None:
    define(stages=[
        {"environment": "cert", "url": "http://cert.shop.test/", "gates": [{
            "name": "selenium", "kind": "jenkins", "url": jenkins.url, "job": job,
            "parameters": {"VERSION": "{version}", "TARGET": "{stage_url}"},
            "username": "ci", "token_env": "JENKINS_TOKEN", "poll_interval_s": 0.01, **extra}]},
        {"environment": "production"},
    ])


def test_it_triggers_a_parameterized_build_follows_it_and_links_it(flow, jenkins):
    jenkins.jobs["shop/selenium"] = JobScript(result="SUCCESS", queued_polls=2, building_polls=3,
                                              console="12 tests passed\nFinished: SUCCESS\n")
    fleet()
    _pipeline(jenkins)
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)

    assert jenkins.triggered("shop/selenium") == [{"VERSION": "1.1.0-1", "TARGET": "http://cert.shop.test/"}]
    selenium = gate("1.1.0-1", "selenium")
    assert selenium.link == f"{jenkins.url}job/shop/job/selenium/1/"
    assert selenium.message == "shop/selenium #1: SUCCESS"
    assert "12 tests passed" in selenium.output
    assert ("POST", "/job/shop/job/selenium/buildWithParameters") in jenkins.requests


def test_a_failed_build_stops_promotion_and_the_explanation_shows_the_console_and_the_link(flow, jenkins):
    jenkins.jobs["shop/selenium"] = JobScript(result="FAILURE", console="CartTest > checkout FAILED\nFinished: FAILURE\n")
    fleet()
    _pipeline(jenkins)
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.FAILED)

    answer = why("1.1.0-1")
    assert answer["sentence"] == ("1.1.0-1 is stopped at cert: gate selenium failed (shop/selenium #1: FAILURE); "
                                  "last output: Finished: FAILURE")
    detail = answer["details"]["stage"]["gates"][0]
    assert detail["link"] == f"{jenkins.url}job/shop/job/selenium/1/"
    assert "CartTest > checkout FAILED" in detail["output"]
    assert versions_pinned("production") == set()


def test_an_aborted_build_is_inconclusive_and_pauses_for_a_person(flow, jenkins):
    jenkins.jobs["shop/selenium"] = JobScript(result="ABORTED")
    fleet()
    _pipeline(jenkins)
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.PAUSED)
    assert gate("1.1.0-1", "selenium").outcome == "inconclusive"
    assert "shop/selenium #1: ABORTED" in why("1.1.0-1")["sentence"]


def test_unstable_counts_as_a_failure_unless_the_gate_says_otherwise(flow, jenkins):
    jenkins.jobs["shop/selenium"] = JobScript(result="UNSTABLE")
    fleet()
    _pipeline(jenkins, unstable="passed")
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)


def test_a_wrong_token_is_inconclusive_with_jenkins_answer(flow, jenkins, monkeypatch):
    jenkins.jobs["shop/selenium"] = JobScript()
    monkeypatch.setenv("JENKINS_TOKEN", "wrong")
    fleet()
    _pipeline(jenkins)
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.PAUSED)
    assert "Possibly authentication failed [401]" in gate("1.1.0-1", "selenium").message
    assert jenkins.builds == []


def test_a_build_that_outlasts_the_gate_timeout_pauses_with_its_link(flow, jenkins):
    jenkins.jobs["shop/selenium"] = JobScript(building_polls=10_000)
    fleet()
    define(stages=[{"environment": "cert", "gates": [{
        "name": "selenium", "kind": "jenkins", "url": jenkins.url, "job": "shop/selenium", "username": "ci",
        "token_env": "JENKINS_TOKEN", "poll_interval_s": 0.01, "timeout_s": 0.3}]}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.PAUSED)
    selenium = gate("1.1.0-1", "selenium")
    assert selenium.outcome == "timeout"
    assert selenium.link == f"{jenkins.url}job/shop/job/selenium/1/"
