"""`orbiter standalone --demo N` prints a demo user's password once, so the web UI can be
signed in to at once; the user exists only in standalone mode."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from orbiter.accounts import roles
from orbiter.core.demo import demo_user_ensure


@pytest.mark.django_db
def test_the_demo_user_is_an_admin_everywhere_and_its_password_is_given_once(settings):
    settings.STANDALONE = True
    password = demo_user_ensure()

    from django.contrib.auth import authenticate

    user = authenticate(username="demo", password=password)
    assert user is not None and not user.is_superuser
    assert roles.role_for(user, None) == roles.ADMIN
    assert demo_user_ensure() is None  # a restart on the same data keeps it, and prints no password


@pytest.mark.django_db
def test_there_is_no_demo_user_outside_standalone_mode(settings):
    settings.STANDALONE = False
    with pytest.raises(RuntimeError, match="only in standalone mode"):
        demo_user_ensure()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_standalone_demo_prints_a_password_that_signs_in_to_the_ui(tmp_path):
    orbiter = Path(sys.executable).with_name("orbiter")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITER_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(HOME=str(tmp_path), ORBITER_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1",
               ORBITER_LOG_LEVEL="WARNING")
    log = (tmp_path / "out.txt").open("w+")
    server = subprocess.Popen([str(orbiter), "standalone", "--demo", "1", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        found = None
        while found is None:
            assert server.poll() is None, (tmp_path / "out.txt").read_text()
            assert time.monotonic() < deadline, (tmp_path / "out.txt").read_text()
            found = re.search(r"sign in as user 'demo' with password '([^']+)'", (tmp_path / "out.txt").read_text())
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        browser = requests.Session()
        while True:
            try:
                form = browser.get(f"{base}/accounts/login/", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the web server never answered"
                time.sleep(0.2)
        signed_in = browser.post(f"{base}/accounts/login/", data={
            "username": "demo", "password": found.group(1), "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        }, headers={"Referer": f"{base}/accounts/login/"}, timeout=10)
        assert form.status_code == 200
        assert signed_in.url == f"{base}/", signed_in.text[:2000]
        assert "shop-api" in signed_in.text
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
