"""Each action's result schema (orbiter_agent/results.py): a refusal names the field and
what is allowed; what the agent really sends passes; a field no action defines passes."""

import pytest

from orbiter_agent.protocol import Code, ProtocolError
from orbiter_agent.results import validate_result


@pytest.mark.parametrize(("action", "result", "field"), [
    ("puppet.run", {"ok": True, "logs": 7}, "result.logs"),
    ("puppet.run", {"ok": True, "resources": {"changed": -1}}, "result.resources.changed"),
    ("puppet.run", {"ok": True, "output_tail": "a\x00"}, "result.output_tail"),
    ("puppet.run", {"ok": True, "exit_code": 300}, "result.exit_code"),
    ("puppet.run", {"ok": True, "tags": ["a b"]}, "result.tags[0]"),
    ("puppet.run", {"ok": True, "facts": {"packages": {"a": 1}}}, "result.facts.packages.a"),
    ("facts", {"ok": True, "packages": {"a" * 201: "1"}}, "result.packages key"),
    ("facts", {"ok": True, "last_run": {"time_s": -1}}, "result.last_run.time_s"),
    ("ping", {"ok": True, "pong": "Not A Certname"}, "result.pong"),
    ("facts", {"ok": False, "error": "x" * 4001}, "result.error"),
])
def test_it_refuses_a_result_naming_the_field(action, result, field):
    with pytest.raises(ProtocolError) as refused:
        validate_result(action, result)

    assert (refused.value.code, refused.value.field) == (Code.BAD_RESULT, field)
    assert field in refused.value.message


def test_it_takes_what_a_real_run_reports_and_fields_it_does_not_know():
    result = {"ok": True, "transient": False, "permanent": False, "status": "ok", "kind": "changed",
              "message": "1 resource(s) changed", "exit_code": 2, "changed": True, "noop": False,
              "tags": ["shop_api"], "duration_s": 3.2, "resources": {"changed": 1, "total": 8},
              "puppet_time_s": 2.9, "puppet_version": "7.23.0", "report_status": "changed",
              "logs": [{"level": "warning", "source": "Puppet", "message": "deprecated"}],
              "output_tail": "Notice: done", "x-future": {"anything": [1, 2]},
              "facts": {"packages": {"shop-api": "1.1.0-1", "absent": None},
                        "last_run": {"resources": {"changed": 1}, "time_s": 2.9, "last_run": 1795673780,
                                     "puppet_version": "7.23.0", "config_version": 1795673779}}}

    assert validate_result("puppet.run", result) is result


def test_it_refuses_a_result_nested_too_deeply_on_the_agent_side():
    deep: list = []
    for _ in range(20):
        deep = [deep]
    with pytest.raises(ProtocolError) as refused:
        validate_result("ping", {"ok": True, "x": deep})

    assert refused.value.code == Code.TOO_DEEP
