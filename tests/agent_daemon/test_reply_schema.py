"""What a real Puppet run reports fits the reply schema the listener enforces
(orbiter_agent/results.py): the agent never sends what the control plane refuses, even
when Puppet prints NUL characters (PostgreSQL stores none)."""

from pathlib import Path

from orbiter_agent.config import PuppetConfig
from orbiter_agent.protocol import make_reply, make_request
from orbiter_agent.puppet import PuppetRunner
from orbiter_agent.results import validate_result

REPORT = """--- !ruby/object:Puppet::Transaction::Report
status: failed
logs:
- level: err
  message: "bad\\0byte"
  source: /Stage[main]/File[x]
"""


def runner(tmp_path: Path, script: str) -> PuppetRunner:
    config = PuppetConfig(command=("/bin/sh", "-c", script, "puppet"), lock_timeout_s=5,
                          publicdir=tmp_path / "public", vardir=tmp_path / "var")
    return PuppetRunner(config, tmp_path / "state")


def test_a_run_printing_nul_characters_still_makes_a_valid_reply(tmp_path):
    (tmp_path / "var" / "state").mkdir(parents=True)
    script = f"printf 'Notice: a\\0b\\n'; cat > {tmp_path}/var/state/last_run_report.yaml <<'Y'\n{REPORT}Y\nexit 4"

    result = runner(tmp_path, script).run(noop=False, tags=[], timeout_s=10).to_dict()

    assert validate_result("puppet.run", result) is result
    assert "\x00" not in result["output_tail"] and result["output_tail"].startswith("Notice: a")
    assert result["logs"] and "\x00" not in result["logs"][0]["message"]
    request = make_request("puppet.run", {"noop": False}, target="web-01", sender="control-plane",
                           ttl_s=60, now=1.0e9)
    assert make_reply(request, result, sender="web-01", now=1.0e9 + 1).result["ok"] is False
