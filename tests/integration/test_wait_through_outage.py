"""`orbiter deploy --wait` against the real web process (gunicorn), stopped and started
again during the rollout: the watch rides out the outage and follows the rollout to its
end; an outage past ORBITER_WAIT_OUTAGE_SECONDS stops the watch with exit 5, saying the
deployment carries on and how to watch it again - and it does carry on."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from lab.processes import Process, start_scheduler, start_worker
from lab.services import free_port
from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from orbiter.deployments import states
from orbiter.deployments.models import Deployment, HostDeployment
from tests.conftest import build_fleet
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

ORBITER = str(Path(sys.executable).with_name("orbiter"))


class Web:
    """`orbiter web` (gunicorn) on a fixed port, to stop and start again."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir, self.port, self.process, self.starts = env, log_dir, free_port(), None, 0
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self.process = Process(["web", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"], self.env,
                               self.log_dir / f"web-{self.starts}.log")
        self.process.wait_for_log("Booting worker", timeout=60)

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture
def stack(live_env, tmp_path):
    build_fleet(hosts=4, converge={"duration_s": 1.5}, defaults={"batch_size": "1"})
    User.objects.create_user("alice")
    role_grant(role="deployer", user="alice", actor="root")
    _, token = token_create(user=User.objects.get(username="alice"), name="alice-cli", actor="root",
                            max_role="deployer")
    web = Web(live_env, tmp_path)
    scheduler = start_scheduler(live_env, tmp_path)
    worker = start_worker(live_env, tmp_path)
    web.start()
    yield web, token
    for process in (worker, scheduler):
        process.stop()
    web.stop()


def deploy_and_wait(web: Web, token: str, tmp_path: Path, **env) -> subprocess.Popen:
    client_env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBITER_", "DJANGO_"))}
    client_env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), NO_COLOR="1",
                      ORBITER_URL=web.url, ORBITER_TOKEN=token, **env)
    return subprocess.Popen([ORBITER, "deploy", "shop-api", "1.1.0-1", "--env", "cert", "--wait"], env=client_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def the_deployment() -> Deployment | None:
    return Deployment.objects.order_by("-pk").first()


def one_host_done() -> bool:
    return HostDeployment.objects.filter(status=states.DONE).exists()


def test_deploy_wait_rides_out_a_restart_of_the_web_and_follows_the_rollout_to_its_end(stack, tmp_path):
    web, token = stack
    client = deploy_and_wait(web, token, tmp_path)
    wait_for(one_host_done, 60, "the rollout to be under way")
    web.stop()
    time.sleep(4)  # the outage itself: the web is down this long
    web.start()

    out, err = client.communicate(timeout=120)

    assert client.returncode == 0, (out, err)
    deployment = the_deployment()
    assert deployment.status == states.SUCCEEDED
    assert f"lost contact with the server (cannot reach {web.url}: Connection refused)" in err, err
    assert re.search(r"back in contact with the server after \d+ s", err), err
    assert out.splitlines()[-1].startswith(f"deployment #{deployment.pk} succeeded")


def test_deploy_wait_stops_after_its_outage_limit_saying_the_deployment_carries_on(stack, tmp_path):
    web, token = stack
    client = deploy_and_wait(web, token, tmp_path, ORBITER_WAIT_OUTAGE_SECONDS="3")
    wait_for(one_host_done, 60, "the rollout to be under way")
    web.stop()
    stopped = time.monotonic()

    out, err = client.communicate(timeout=60)

    assert client.returncode == 5, (out, err)
    assert time.monotonic() - stopped < 15
    deployment = the_deployment()
    assert re.search(r"stopped watching: the server has been unreachable for [3-9] s", err), err
    assert f"Deployment #{deployment.pk} (last seen: running) carries on on the server" in err
    assert f"watch it again with: orbiter status {deployment.pk} --wait" in err
    finished = wait_for(lambda: Deployment.objects.filter(pk=deployment.pk, status__in=states.COMPLETED).first(),
                        60, "the deployment to carry on to its end without the web")
    assert finished.status == states.SUCCEEDED
