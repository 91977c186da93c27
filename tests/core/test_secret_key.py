"""Standalone's secret key is generated into its data directory on first start (mode 0600)
and reused after; two installations never share one. Found: a constant in the source, so
anyone could forge the session cookie of any standalone instance."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def start(data_dir: Path, **extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITER_")}
    env.update(DJANGO_SETTINGS_MODULE="orbiter.settings", ORBITER_MODE="standalone",
               ORBITER_DATA_DIR=str(data_dir), **extra)
    return subprocess.run([sys.executable, "-c", f"import django; django.setup(); {PRINT_KEY}"],
                          env=env, capture_output=True, text=True, timeout=60)


def key_of(data_dir: Path) -> str:
    result = start(data_dir)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_first_start_writes_a_private_key_and_the_next_reuses_it(tmp_path):
    first = key_of(tmp_path / "data")

    key_file = tmp_path / "data" / "secret_key"
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 50
    assert key_of(tmp_path / "data") == first


def test_two_installations_get_different_keys(tmp_path):
    assert key_of(tmp_path / "one") != key_of(tmp_path / "two")


def test_a_key_file_other_users_can_read_is_refused(tmp_path):
    key_of(tmp_path / "data")
    (tmp_path / "data" / "secret_key").chmod(0o644)

    result = start(tmp_path / "data")

    assert result.returncode != 0
    assert "chmod 600" in result.stderr and "secret_key" in result.stderr


def test_a_key_given_by_environment_wins_and_nothing_is_written(tmp_path):
    result = start(tmp_path / "data", ORBITER_SECRET_KEY="k" * 60)

    assert result.stdout.strip() == "k" * 60
    assert not (tmp_path / "data" / "secret_key").exists()


@pytest.mark.parametrize("starts", [4])
def test_processes_starting_at_once_agree_on_one_key(tmp_path, starts):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITER_")}
    env.update(DJANGO_SETTINGS_MODULE="orbiter.settings", ORBITER_MODE="standalone",
               ORBITER_DATA_DIR=str(tmp_path / "data"))
    processes = [subprocess.Popen([sys.executable, "-c", f"import django; django.setup(); {PRINT_KEY}"],
                                  env=env, stdout=subprocess.PIPE, text=True) for _ in range(starts)]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}

    assert len(keys) == 1 and "" not in keys
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]
