"""A converge that failed because Puppet's ENC could not reach Orbiter (its web service down
or restarting) is an outage of the control plane: the host is retried without using up
its attempt, and the error says what happened."""

import pytest
from django.utils import timezone

from orbiter.converge.base import ConvergeResult
from orbiter.converge.services import converge_results_record
from orbiter.deployments import states
from orbiter.deployments.models import HostDeployment
from tests.conftest import build_fleet
from tests.deployments.support import request, run_to_end

pytestmark = pytest.mark.django_db(transaction=True)

ENC_DOWN = ("Puppet could not classify this host: Orbiter's ENC (the control plane's web service) could not be "
            "reached - an outage of the control plane, not of this host")


def converging(tasks, deployment) -> HostDeployment:
    tasks.run_until(lambda: HostDeployment.objects.filter(deployment=deployment, status=states.CONVERGING,
                                                          action_issued_at__isnull=False).exists())
    return HostDeployment.objects.select_related("host").get(deployment=deployment)


def answer(hd: HostDeployment, *, ok: bool, kind: str, message: str = "") -> None:
    summary = {"status": "ok" if ok else "transient", "kind": kind}
    assert converge_results_record([ConvergeResult(request_id=hd.request_id, ok=ok, message=message,
                                                   summary=summary, certname=hd.host.certname)]) == 1


def test_a_host_whose_puppet_could_not_reach_the_enc_is_retried_without_using_up_its_attempt(tasks):
    # One attempt only, and the fleet never answers by itself: the answers below are the agent's.
    build_fleet(hosts=1, converge={"duration_s": 3600}, defaults={"max_attempts": 1, "retry_backoff_s": 0})
    deployment = request("1.1.0-1")

    first = converging(tasks, deployment)
    answer(first, ok=False, kind="enc_unreachable", message=ENC_DOWN)
    tasks.run_until(lambda: HostDeployment.objects.filter(pk=first.pk, round=2, action_issued_at__isnull=False)
                    .exists())
    retried = HostDeployment.objects.select_related("host").get(pk=first.pk)

    assert retried.status == states.CONVERGING and retried.attempt == 1
    assert retried.request_id != first.request_id  # a new request: the agent runs Puppet again
    assert "Orbiter's ENC" in retried.error and "without using up the attempt" in retried.error

    answer(retried, ok=True, kind="changed", message="1 resource(s) changed")
    finished = run_to_end(tasks, deployment)

    assert finished.status == states.SUCCEEDED
    assert HostDeployment.objects.get(pk=first.pk).status == states.DONE


def test_an_ordinary_failed_run_still_uses_up_the_attempt(tasks):
    build_fleet(hosts=1, converge={"duration_s": 3600}, defaults={"max_attempts": 1, "retry_backoff_s": 0})
    deployment = request("1.1.0-1")

    answer(converging(tasks, deployment), ok=False, kind="run_failed", message="Puppet exited with code 1")

    assert run_to_end(tasks, deployment).status == states.FAILED


def test_an_enc_outage_that_outlasts_its_grace_counts_like_any_failure(tasks, settings):
    settings.ORBITER_ENC_OUTAGE_SECONDS = 60
    build_fleet(hosts=1, converge={"duration_s": 3600}, defaults={"max_attempts": 1, "retry_backoff_s": 0})
    deployment = request("1.1.0-1")
    hd = converging(tasks, deployment)
    HostDeployment.objects.filter(pk=hd.pk).update(step_started_at=timezone.now() - timezone.timedelta(seconds=61))

    answer(hd, ok=False, kind="enc_unreachable", message=ENC_DOWN)

    assert run_to_end(tasks, deployment).status == states.FAILED
    assert "Orbiter's ENC" in HostDeployment.objects.get(pk=hd.pk).error
