"""Watching rollouts from a terminal: deploy --wait to the end, the two-person flow in a
protected environment, a rollback. The engine runs (Celery's worker in this process, on the
test run's PostgreSQL and Redis); the CLI is the `orbiter` script talking HTTP."""

import os
import pty
import subprocess
import threading

import pytest

from orbiter.deployments.models import Deployment
from tests.cli.support import created_id
from tests.client.conftest import COMMAND_TIMEOUT, SCRIPT

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("engine")]


def test_deploy_wait_follows_the_rollout_to_succeeded_and_exits_0(orbiter, tokens):
    result = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--wait", token=tokens["alice"])

    assert result.code == 0, result.err
    deployment_id = created_id(result.out)
    lines = result.out.splitlines()
    assert lines[0] == f"deployment #{deployment_id} queued: shop-api 1.1.0-1 to cert"
    assert any(f"#{deployment_id} succeeded: batch 2/2, 2 done" in line for line in lines), result.out
    assert "  batch 1/2: 1 of 1 done - shop-api-cert-01 done" in lines
    assert "  batch 2/2: 1 of 1 done - shop-api-cert-02 done" in lines
    assert lines[-1].startswith(f"deployment #{deployment_id} succeeded")
    assert Deployment.objects.get(pk=deployment_id).status == "succeeded"


def test_a_colleague_approves_from_the_terminal_and_the_requester_sees_it_succeed(orbiter, tokens):
    requested = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "production", "--yes", token=tokens["alice"])
    deployment_id = created_id(requested.out)
    assert "awaiting approval" in requested.out

    approved = orbiter("approve", str(deployment_id), "--comment", "looks good", token=tokens["bob"])
    waited = orbiter("status", str(deployment_id), "--wait", token=tokens["alice"])
    shown = orbiter("status", str(deployment_id), token=tokens["alice"])

    assert approved.code == 0, approved.err
    assert approved.out.startswith(f"deployment #{deployment_id} ")
    assert waited.code == 0, waited.err
    assert waited.out.splitlines()[-1].startswith(f"deployment #{deployment_id} succeeded")
    assert "approvals     1 of 1 approval(s) (bob)" in shown.out
    assert "shop-api-production-01" in shown.out and "shop-api-production-02" in shown.out


def test_rollback_of_an_application_rolls_back_its_latest_deployment(orbiter, tokens):
    first = orbiter("deploy", "shop-api", "1.0.0-1", "--env", "cert", "--wait", token=tokens["alice"])
    second = orbiter("deploy", "shop-api", "1.1.0-1", "--env", "cert", "--wait", token=tokens["alice"])
    assert (first.code, second.code) == (0, 0), first.err + second.err

    result = orbiter("rollback", "shop-api", "--env", "cert", "--reason", "bad build", "--wait",
                     token=tokens["alice"])

    assert result.code == 0, result.err
    assert result.out.startswith(f"deployment #{created_id(second.out) + 1} queued: rolling back "
                                 f"#{created_id(second.out)}, shop-api 1.0.0-1 to cert")
    rolled_back = orbiter("history", "shop-api", "--env", "cert", "--status", "rolled_back", "--json",
                          token=tokens["vera"])
    assert f'"id": {created_id(second.out)}' in rolled_back.out


def test_on_a_terminal_the_wait_is_a_live_display_with_a_bar_per_batch(home, live_server, tokens):
    """Run under a pseudo-terminal, as a person would: rich draws the live display."""
    primary, secondary = pty.openpty()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ORBITER_", "DJANGO_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), ORBITER_URL=live_server.url,
               ORBITER_TOKEN=tokens["alice"], COLUMNS="160", LINES="40", TERM="xterm-256color")
    process = subprocess.Popen([str(SCRIPT), "deploy", "shop-api", "1.1.0-1", "--env", "cert", "--wait"],
                               stdin=subprocess.DEVNULL, stdout=secondary, stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the process ended
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    code = process.wait(timeout=COMMAND_TIMEOUT)
    reader.join(timeout=10)
    os.close(primary)
    screen = b"".join(chunks).decode("utf-8", "replace")

    assert code == 0, process.stderr.read().decode()
    assert "batch 1" in screen and "batch 2" in screen
    assert "━" in screen  # rich's progress bar
    assert "latest events" in screen and "shop-api-cert-01 draining -> converging" in screen
    assert "succeeded" in screen
