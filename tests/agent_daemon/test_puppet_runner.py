"""PuppetRunner with stand-in commands: exit codes, locks, timeouts and Puppet's files."""

import fcntl
import os
import time
from pathlib import Path

import pytest

from orbiter_agent.config import PuppetConfig
from orbiter_agent.puppet import PuppetRunner

REPORT = """--- !ruby/object:Puppet::Transaction::Report
host: h1
status: failed
logs:
- !ruby/object:Puppet::Util::Log
  level: !ruby/sym err
  message: Could not set 'file' on ensure
  source: /Stage[main]/Testapp/File[/srv/app/version]
- level: notice
  message: Applied catalog in 0.02 seconds
  source: Puppet
"""
SUMMARY = """---
version: {puppet: 7.23.0, config: 1795673779}
resources: {changed: 1, failed: 1, out_of_sync: 2, total: 8}
time: {total: 0.5, last_run: 1795673780}
"""


def runner(tmp_path: Path, script: str, lock_timeout_s: float = 5) -> PuppetRunner:
    config = PuppetConfig(
        command=("/bin/sh", "-c", script, "puppet"),
        lock_timeout_s=lock_timeout_s,
        publicdir=tmp_path / "public",
        vardir=tmp_path / "var",
    )
    return PuppetRunner(config, tmp_path / "state")


@pytest.mark.parametrize(
    ("code", "status", "kind", "changed"),
    [
        (0, "ok", "unchanged", False),
        (2, "ok", "changed", True),
        (4, "failed", "resource_failures", False),
        (6, "failed", "resource_failures", True),
        (1, "transient", "run_failed", False),
        (3, "transient", "run_failed", False),
    ],
)
def test_it_classifies_puppets_detailed_exit_codes(tmp_path, code, status, kind, changed):
    result = runner(tmp_path, f"exit {code}").run(noop=False, tags=[], timeout_s=10)

    assert (result.status, result.kind, result.changed, result.exit_code) == (
        status, kind, changed, code
    )  # fmt: skip
    assert result.to_dict()["ok"] is (status == "ok")
    assert result.to_dict()["transient"] is (status == "transient")
    assert result.to_dict()["permanent"] is False


def test_it_passes_noop_and_tags_to_puppet(tmp_path):
    result = runner(tmp_path, 'echo "args: $*"').run(noop=True, tags=["a", "b_c"], timeout_s=10)

    assert "args: --noop --tags=a,b_c" in result.output_tail
    assert result.noop is True and result.tags == ["a", "b_c"]


def test_it_waits_for_the_lock_then_reports_it_held(tmp_path):
    marker = tmp_path / "ran"
    puppet = runner(tmp_path, f"touch {marker}", lock_timeout_s=0.5)
    with open(puppet.lock_path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run, e.g. a second agent process

        started = time.monotonic()
        result = puppet.run(noop=False, tags=[], timeout_s=10)

    assert result.status == "transient" and result.kind == "lock_held"
    assert time.monotonic() - started >= 0.5
    assert not marker.exists()


def test_it_treats_puppets_own_run_lock_as_transient(tmp_path):
    script = (
        "echo 'Notice: Run of Puppet configuration client already in progress; skipping "
        "(/var/lib/puppet/state/agent_catalog_run.lock exists)'; exit 1"
    )
    result = runner(tmp_path, script, lock_timeout_s=0).run(noop=False, tags=[], timeout_s=10)

    assert result.status == "transient" and result.kind == "lock_held"


def test_it_kills_the_whole_process_group_on_timeout(tmp_path):
    child = tmp_path / "child.pid"
    puppet = runner(tmp_path, f"sleep 60 & echo $! > {child}; wait")

    result = puppet.run(noop=False, tags=[], timeout_s=1)

    assert result.status == "transient" and result.kind == "timeout"
    assert not alive(int(child.read_text()))
    assert not puppet.pid_path.exists()


def test_it_reads_the_summary_and_the_ruby_tagged_report_this_run_wrote(tmp_path):
    (tmp_path / "public").mkdir()
    (tmp_path / "var" / "state").mkdir(parents=True)
    (tmp_path / "summary").write_text(SUMMARY)
    (tmp_path / "report").write_text(REPORT)
    script = (
        f"cp {tmp_path}/summary {tmp_path}/public/last_run_summary.yaml; "
        f"cp {tmp_path}/report {tmp_path}/var/state/last_run_report.yaml; exit 6"
    )

    result = runner(tmp_path, script).run(noop=False, tags=[], timeout_s=10)

    assert result.resources == {"changed": 1, "failed": 1, "out_of_sync": 2, "total": 8}
    assert result.puppet_version == "7.23.0" and result.puppet_time_s == 0.5
    assert result.report_status == "failed"
    assert result.logs == [
        {"level": "err", "source": "/Stage[main]/Testapp/File[/srv/app/version]",
         "message": "Could not set 'file' on ensure"},
    ]  # fmt: skip


def test_it_ignores_puppets_files_from_an_earlier_run(tmp_path):
    summary = tmp_path / "public" / "last_run_summary.yaml"
    summary.parent.mkdir()
    summary.write_text(SUMMARY)
    os.utime(summary, (time.time() - 3600, time.time() - 3600))

    result = runner(tmp_path, "exit 1").run(noop=False, tags=[], timeout_s=10)

    assert result.resources is None and result.report_status is None


def test_it_keeps_only_the_tail_of_a_long_output(tmp_path):
    result = runner(tmp_path, "seq 1 20000").run(noop=False, tags=[], timeout_s=10)

    assert len(result.output_tail) == 4000 and result.output_tail.endswith("19999\n20000\n")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_tags_reach_puppet_as_one_argument_that_no_tag_can_turn_into_an_option(tmp_path):
    script = 'for a in "$@"; do echo "arg: $a"; done'

    result = runner(tmp_path, script).run(noop=False, tags=["role::web", "db"], timeout_s=10)

    assert result.output_tail.splitlines() == ["arg: --tags=role::web,db"]


@pytest.mark.parametrize("tag", ["-d", "--noop", "a b", ""])
def test_the_runner_itself_refuses_a_tag_that_is_not_a_puppet_tag(tmp_path, tag):
    puppet = runner(tmp_path, "echo ran")

    with pytest.raises(ValueError, match="is not a Puppet tag"):
        puppet.run(noop=False, tags=["web", tag], timeout_s=10)
