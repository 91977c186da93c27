"""`orbiter apply`, `orbiter export` on the database (local mode) and through the API (client
mode, the console script against a live server), as an operator types them."""

import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from orbiter.accounts.tokens import token_create
from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Environment
from tests.fleet.support import EXAMPLE, FILES


def orbiter(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*argv, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_apply_diff_prints_the_changes_and_writes_nothing():
    code, out, err = orbiter("apply", "-f", str(EXAMPLE), "--diff", "--as", "ada")

    assert (code, err) == (0, "")
    assert "+ environments[production]\n" in out
    assert '    freezes: [{"days": ["fri"], "start": "18:00", "end": "08:00", "timezone": "Europe/Paris", ' in out
    assert out.endswith("10 to create, 0 to update, 0 to delete (dry run: nothing changed)\n")
    assert not Environment.objects.exists()


@pytest.mark.django_db
def test_apply_writes_everything_records_the_author_then_has_nothing_left_to_do():
    code, out, _ = orbiter("apply", "-f", str(EXAMPLE), "--as", "ada")

    assert code == 0 and out.endswith("applied: 10 created, 0 updated, 0 deleted\n")
    assert set(Event.objects.values_list("actor", flat=True)) == {"ada"}
    assert orbiter("apply", "-f", str(EXAMPLE), "--diff", "--as", "ada")[1] == (
        "no changes: the catalog is what the files say\n")


@pytest.mark.django_db
def test_apply_reads_a_directory_of_files_in_name_order(tmp_path):
    shutil.copy(FILES / "split-documents.yaml", tmp_path / "10-base.yaml")
    (tmp_path / "20-more.yml").write_text("applications: [{name: shop-api, package: shop-api}]\n")
    (tmp_path / "notes.txt").write_text("not read")

    code, out, err = orbiter("apply", "-f", str(tmp_path), "--as", "ada")

    assert (code, err) == (0, "")
    assert sorted(Application.objects.values_list("name", flat=True)) == ["cart", "shop-api"]


@pytest.mark.django_db
def test_apply_prints_every_problem_with_its_place_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("environments:\n  - {name: staging, oder: 1}\n  - {name: prod, requires_approval: maybe}\n")

    code, out, err = orbiter("apply", "-f", str(bad), "--as", "ada")

    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: {bad} (document 1): environments[staging]: unknown key(s) 'oder' (did you mean 'order'?); allowed: "
        "freezes, min_approvals, name, order, puppet_environment, requires_approval",
        f"error: {bad} (document 1): environments[prod].requires_approval: 'maybe' is not allowed; give true or false",
    ]


@pytest.mark.django_db
def test_export_prints_what_apply_reads():
    orbiter("apply", "-f", str(FILES / "minimal.yaml"), "--as", "ada")

    code, out, _ = orbiter("export", "--kind", "environments", "--kind", "applications")

    assert code == 0
    assert out == (FILES / "minimal.yaml").read_text()


# --- client mode --------------------------------------------------------------------------------

SCRIPT = Path(sys.executable).with_name("orbiter")


def client(live_server, token: str, *argv: str, home: Path) -> tuple[int, str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ORBITER_", "DJANGO_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), ORBITER_URL=live_server.url,
               ORBITER_TOKEN=token, NO_COLOR="1")
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "orbiter.cli"]
    done = subprocess.run([*command, *argv], env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.django_db(transaction=True)
def test_in_client_mode_apply_and_export_go_through_the_api(live_server, tmp_path):
    _, admin = token_create(user=User.objects.create_superuser("root"), name="ops", actor="root", max_role="admin")
    _, deployer = token_create(user=User.objects.create_user("dora"), name="ci", actor="root")

    code, out, err = client(live_server, admin, "apply", "-f", str(EXAMPLE), "--diff", home=tmp_path)
    assert (code, err) == (0, "") and out.endswith("(dry run: nothing changed)\n")
    assert not Environment.objects.exists()

    code, out, _ = client(live_server, admin, "apply", "-f", str(EXAMPLE), home=tmp_path)
    assert code == 0 and Environment.objects.count() == 2
    assert set(Event.objects.exclude(verb__startswith="token").values_list("actor", flat=True)) == {"root"}

    code, out, _ = client(live_server, admin, "export", "--kind", "environments", home=tmp_path)
    assert code == 0 and out.startswith("environments:\n- name: staging\n")

    code, _, err = client(live_server, deployer, "apply", "-f", str(EXAMPLE), "--diff", home=tmp_path)
    assert code == 3 and "needs the admin role in all environments" in err

    bad = tmp_path / "bad.yaml"
    bad.write_text("applications: [{name: x, package: x, rollout: {batch_size: 0}}]\n")
    code, _, err = client(live_server, admin, "apply", "-f", str(bad), home=tmp_path)
    assert code == 2
    assert f"{bad} (document 1): applications[x].rollout.batch_size: must be at least 1 host or 1%" in err

    bad.write_text("environments: [{name: Staging, order: x}]\n")
    code, _, err = client(live_server, admin, "apply", "-f", str(bad), home=tmp_path)
    assert code == 2
    assert err.splitlines() == [
        f"error: {bad} (document 1): environments[Staging].name: 'Staging' is not allowed; lowercase letters, "
        "digits and '-', starting with a letter, at most 63 characters",
        f"error: {bad} (document 1): environments[Staging].order: 'x' is not allowed; give a whole number"]
