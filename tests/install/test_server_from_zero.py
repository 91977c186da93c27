"""docs/install.md's steps on an empty database, as the operator runs them: the settings of
step 4 (broker secret included), `orbiter migrate`, `check --deploy`, `keys init`,
`createsuperuser --noinput` from the environment (a weak password refused, naming why),
then `orbiter web`: no "No directory at …/static/" warning, static files served from the
packages, /healthz answering and the admin signing in."""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

SCRIPT = Path(sys.executable).with_name("orbiter")
PASSWORD = "violet-harbour-7-quartz"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def empty_database():
    """A new database on the test run's PostgreSQL (dropped afterwards)."""
    server = os.environ.get("ORBITER_DATABASE_URL", "")
    if not server.startswith("postgres"):
        pytest.fail("needs the PostgreSQL ./lab/test starts (ORBITER_DATABASE_URL)")
    name = f"orbiter_install_{secrets.token_hex(4)}"
    parts = urlsplit(server)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings_env(tmp_path, empty_database) -> dict[str, str]:
    """Step 4's settings (secret files made as `openssl rand` would), nothing else of the
    test run's environment."""
    (tmp_path / "secret-key").write_text(secrets.token_urlsafe(48) + "\n")
    (tmp_path / "enc-token").write_text(secrets.token_hex(32) + "\n")
    (tmp_path / "broker.secret").write_text(secrets.token_urlsafe(48) + "\n")
    (tmp_path / "data").mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ORBITER_", "DJANGO_"))}
    env.update({
        "ORBITER_MODE": "server",
        "ORBITER_SECRET_KEY_FILE": str(tmp_path / "secret-key"),
        "ORBITER_DATABASE_URL": empty_database,
        "ORBITER_BROKER_URL": os.environ.get("ORBITER_BROKER_URL", "redis://127.0.0.1:6379/0"),
        "ORBITER_ALLOWED_HOSTS": "127.0.0.1",
        "ORBITER_ENC_TOKEN_FILE": str(tmp_path / "enc-token"),
        "ORBITER_DATA_DIR": str(tmp_path / "data"),
        "ORBITER_BUS_URL": "stomp://127.0.0.1:61613",
        "ORBITER_STOMP_SECRET_FILE": str(tmp_path / "broker.secret"),
        "ORBITER_SIGNING_KEY_FILE": str(tmp_path / "data" / "control-plane.key"),
        "ORBITER_LOG_FORMAT": "plain",
        "ORBITER_USER": "operator",
    })
    return env


def orbiter(env: dict, *argv: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *argv], env={**env, **extra}, capture_output=True, text=True, timeout=300,
                          check=False)


def test_a_server_installed_as_documented_starts_clean_and_its_admin_signs_in(settings_env, tmp_path):
    migrated = orbiter(settings_env, "migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    checked = orbiter(settings_env, "check", "--deploy")
    assert checked.returncode == 0, checked.stderr[-3000:]
    keys = orbiter(settings_env, "keys", "init")
    assert keys.returncode == 0 and orbiter(settings_env, "keys", "show").stdout.strip(), keys.stderr

    weak = orbiter(settings_env, "createsuperuser", "--noinput", DJANGO_SUPERUSER_USERNAME="admin",
                   DJANGO_SUPERUSER_EMAIL="admin@example.com", DJANGO_SUPERUSER_PASSWORD="admin123")
    assert weak.returncode != 0 and "DJANGO_SUPERUSER_PASSWORD:" in weak.stderr and "too short" in weak.stderr
    created = orbiter(settings_env, "createsuperuser", "--noinput", DJANGO_SUPERUSER_USERNAME="admin",
                      DJANGO_SUPERUSER_EMAIL="admin@example.com", DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    assert created.returncode == 0, created.stderr[-3000:]

    port = _free_port()
    log = tmp_path / "web.log"
    with log.open("w") as out:
        web = subprocess.Popen([str(SCRIPT), "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                               env=settings_env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        health = _first_answer(f"{base}/healthz", deadline_s=60)
        css = requests.get(f"{base}/static/web/orbiter.css", timeout=10)
        swagger = requests.get(f"{base}/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css", timeout=10)
        browser = requests.Session()
        form = browser.get(f"{base}/accounts/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        signed_in = browser.post(f"{base}/accounts/login/", timeout=10, allow_redirects=False, data={
            "csrfmiddlewaretoken": token, "username": "admin", "password": PASSWORD})
        dashboard = browser.get(f"{base}/", timeout=10)
    finally:
        web.terminate()
        web.wait(timeout=30)

    output = log.read_text()
    assert "No directory at" not in output, output[-3000:]
    assert health.status_code == 200 and health.json()["database"]["ok"] is True
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    assert swagger.status_code == 200
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    assert dashboard.status_code == 200 and "admin" in dashboard.text and "Unassigned hosts" in dashboard.text


def _first_answer(url: str, *, deadline_s: float) -> requests.Response:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # polling until gunicorn listens, bounded by the deadline
