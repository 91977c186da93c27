"""Recording converge results: a batch of answers lands each on the host that was asked,
and an answer nobody waits for any more (stale, duplicate, for another host or another
deployment) changes nothing. Runs on the test database: SQLite, or PostgreSQL under
./lab/test (one multi-row UPDATE there)."""

import pytest

from orbiter.converge.base import ConvergeResult
from orbiter.converge.services import converge_results_record
from orbiter.deployments import states
from orbiter.deployments.models import HostDeployment
from tests.conftest import build_fleet
from tests.deployments.support import host, host_deployment, request, run_until_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def converging(tasks):
    """A deployment of 4 hosts in one batch, all waiting for their converge results (the
    simulated fleet's own answers are a minute away)."""
    build_fleet(hosts=4, converge={"duration_s": 60})
    deployment = request("1.1.0-1", strategy={"batch_size": "4"})
    tasks.run_until(lambda: HostDeployment.objects.filter(
        deployment=deployment, status=states.CONVERGING).count() == 4)
    return deployment


def answer(hd, *, ok=True, certname="self", request_id=None, **fields):
    return ConvergeResult(request_id=request_id or hd.request_id, ok=ok,
                          certname=hd.host.certname if certname == "self" else certname, **fields)


def outcomes(deployment):
    return {certname: (hd.outcome or {}).get("ok") for certname, hd in
            ((hd.host.certname, hd) for hd in HostDeployment.objects.filter(deployment=deployment)
             .select_related("host"))}


def test_a_batch_of_mixed_results_records_each_on_its_own_host(converging, tasks):
    hd1, hd2, hd3, hd4 = (host_deployment(converging, host(n)) for n in range(1, 5))

    recorded = converge_results_record([
        answer(hd1, summary={"changed": 3, "puppet_version": "7.29.1"}, log_tail="Notice: applied"),
        answer(hd2, ok=False, message="Exec[migrate] failed", summary={"failed": 1}),
        answer(hd3, certname=host(4)),  # host 4's agent answering for host 3
        answer(hd4, certname=None, message="the engine's own result"),
        ConvergeResult(request_id="not-ours-42", ok=True),
    ])

    assert recorded == 3
    assert outcomes(converging) == {host(1): True, host(2): False, host(3): None, host(4): True}
    hd1, hd2 = host_deployment(converging, host(1)), host_deployment(converging, host(2))
    assert (hd1.puppet, hd1.log_tail) == ({"changed": 3, "puppet_version": "7.29.1"}, "Notice: applied")
    assert hd2.outcome == {"ok": False, "permanent": False, "message": "Exec[migrate] failed"}
    # The engine acts on them: host 1 moves on, host 2's failed attempt is retried.
    tasks.run_until(lambda: host_deployment(converging, host(1)).status != states.CONVERGING
                    and host_deployment(converging, host(2)).attempt == 2)


def test_a_duplicate_reply_changes_nothing(converging):
    hd1, hd2 = host_deployment(converging, host(1)), host_deployment(converging, host(2))
    assert converge_results_record([answer(hd1, message="first")]) == 1

    # the same request answered again, alone and twice within one batch
    assert converge_results_record([answer(hd1, ok=False, message="again")]) == 0
    assert converge_results_record([answer(hd2, message="one"), answer(hd2, ok=False, message="two")]) == 1

    assert host_deployment(converging, host(1)).outcome["message"] == "first"
    assert host_deployment(converging, host(2)).outcome["message"] == "one"


def test_a_stale_reply_changes_nothing(converging):
    hd1, hd2, hd3 = (host_deployment(converging, host(n)) for n in range(1, 4))
    HostDeployment.objects.filter(pk=hd1.pk).update(attempt=2)  # retried since host 1 was asked
    HostDeployment.objects.filter(pk=hd2.pk).update(round=2)  # "retry failed hosts" since
    HostDeployment.objects.filter(pk=hd3.pk).update(status=states.VERIFYING)  # moved on
    wrong_deployment = hd1.request_id.replace(f"d{converging.pk}-", f"d{converging.pk + 1}-")

    recorded = converge_results_record([
        answer(hd1), answer(hd2), answer(hd3),
        answer(hd1, request_id=wrong_deployment.replace("-a1", "-a2")),
    ])

    assert recorded == 0
    assert outcomes(converging) == {host(n): None for n in range(1, 5)}


def test_a_reply_carrying_nul_characters_is_recorded_without_them_with_its_batch(converging):
    hd1, hd2 = host_deployment(converging, host(1)), host_deployment(converging, host(2))

    recorded = converge_results_record([
        answer(hd1, message="bad\x00byte", summary={"puppet_version": "7\x00"}, log_tail="a\x00b"),
        answer(hd2),
    ])

    assert recorded == 2
    hd1 = host_deployment(converging, host(1))
    assert (hd1.outcome["message"], hd1.puppet, hd1.log_tail) == ("badbyte", {"puppet_version": "7"}, "ab")


def test_results_of_a_whole_batch_complete_the_deployment(converging, tasks):
    hds = [host_deployment(converging, host(n)) for n in range(1, 5)]

    assert converge_results_record([answer(hd) for hd in hds]) == 4

    assert run_until_status(tasks, converging, states.COMPLETED).status == states.SUCCEEDED
