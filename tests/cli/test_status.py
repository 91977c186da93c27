"""`orbiter status`: one deployment and its hosts, or the recent deployments."""

import json

import pytest

from orbiter.deployments import states
from tests.cli.conftest import orbiter
from tests.cli.support import host, request, run_until_status
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db(transaction=True)


def test_status_lists_the_recent_deployments_newest_first(tasks):
    build_fleet(hosts=2)
    done = run_until_status(tasks, request("1.0.0-1", actor="bob").pk, states.SUCCEEDED)
    waiting = request("1.1.0-1")

    result = orbiter("status")

    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["id", "app", "version", "env", "status", "requested", "by", "message"]
    assert lines[1].split() == [str(waiting.pk), "shop-api", "1.1.0-1", "cert", "queued", "alice", "queued"]
    assert lines[2].split() == [str(done.pk), "shop-api", "1.0.0-1", "cert", "succeeded", "bob", "succeeded",
                                "(2", "done)"]


def test_status_lists_at_most_twenty_deployments(tasks):
    build_fleet(hosts=1)
    for _ in range(22):
        request("1.1.0-1", queue=True)

    assert len(orbiter("status").out.splitlines()) == 1 + 20


def test_status_says_when_there_are_no_deployments():
    assert orbiter("status").out == "no deployments yet\n"


def test_status_of_a_finished_deployment_shows_its_hosts(tasks):
    build_fleet(hosts=3, defaults={"batch_size": "2"})
    deployment = run_until_status(tasks, request("1.1.0-1", comment="ship it").pk, states.SUCCEEDED)

    result = orbiter("status", str(deployment.pk))

    assert result.code == 0
    out = result.out
    assert f"deployment    #{deployment.pk} shop-api 1.1.0-1 to cert" in out
    assert "status        succeeded: batch 2/2, 3 done, 0 in flight, 0 failed - succeeded (3 done)" in out
    assert "requested by  alice at " in out
    assert "comment       ship it" in out
    table = out.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == ["batch", "host", "step", "attempt", "error"]
    assert [row.split() for row in table[1:]] == [
        ["1", host(1), "done", "1", "-"],
        ["1", host(2), "done", "1", "-"],
        ["2", host(3), "done", "1", "-"],
    ]


def test_status_shows_why_a_host_failed(tasks):
    build_fleet(hosts=2, converge={"fail_hosts": [host(2)]})
    deployment = run_until_status(tasks, request("1.1.0-1").pk, states.FAILED)

    out = orbiter("status", str(deployment.pk)).out

    rows = [line.split(None, 4) for line in out.split("\n\n", 1)[1].splitlines()[1:]]
    assert rows == [
        ["1", host(1), "done", "1", "-"],
        ["2", host(2), "failed", "1", "converging: simulated permanent failure (host listed in fail_hosts)"],
    ]


def test_status_of_a_deployment_not_started_says_hosts_come_later(tasks):
    build_fleet(hosts=2)
    deployment = request("1.1.0-1")

    out = orbiter("status", str(deployment.pk)).out

    assert "status        queued\n" in out
    assert out.endswith("no hosts yet: they are chosen when the deployment starts\n")


def test_status_json_of_one_deployment(tasks):
    build_fleet(hosts=2)
    deployment = run_until_status(tasks, request("1.1.0-1").pk, states.SUCCEEDED)

    data = json.loads(orbiter("status", str(deployment.pk), "--json").out)

    assert (data["id"], data["status"], data["version"], data["requested_by"]) == (
        deployment.pk, "succeeded", "1.1.0-1", "alice"
    )
    assert [(h["batch"], h["host"], h["step"]) for h in data["hosts"]] == [(1, host(1), "done"), (2, host(2), "done")]


def test_status_json_of_the_recent_deployments(tasks):
    build_fleet(hosts=2)
    first = request("1.0.0-1")
    second = request("1.1.0-1", queue=True)

    data = json.loads(orbiter("status", "--json").out)

    assert [(d["id"], d["status"], d["queued_behind"]) for d in data] == [
        (second.pk, "queued", first.pk), (first.pk, "queued", None)
    ]


def test_status_of_a_missing_deployment_exits_2():
    result = orbiter("status", "99")

    assert (result.code, result.err) == (2, "error: deployment #99 does not exist\n")
