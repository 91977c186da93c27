"""`orbiter pipeline ...`: a pipeline defined from YAML, shown back, bad definitions refused
naming the field, and a blocked artifact explained and approved from the command line."""

import textwrap
from io import StringIO

import pytest
import yaml
from django.core.management import call_command

from orbiter.pipelines import states
from orbiter.pipelines.models import Pipeline
from tests.pipelines.support import fleet, publish, versions_pinned, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

DEFINITION = """
    application: shop-api
    continuous_delivery: true
    policy: queue
    stages:
      - environment: cert
        url: http://cert.shop.test/
        gates:
          - name: unit
            kind: command
            command: ["true"]
            timeout_s: 60
          - name: health
            kind: http
            url: "http://{certname}:8080/health"
            body_regex: "{version}"
            retries: 2
      - environment: test
      - environment: production
        promotion: approval
"""


def orbiter(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*argv, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def _file(tmp_path, text: str) -> str:
    path = tmp_path / "pipeline.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_apply_defines_the_pipeline_and_show_prints_it_back(tmp_path):
    fleet()
    code, out, err = orbiter("pipeline", "apply", _file(tmp_path, DEFINITION), "--as", "admin")
    assert (code, err) == (0, "")
    assert out.strip() == ("pipeline of shop-api: cert [health, unit] → test → production (approval); "
                           "continuous delivery on, policy queue")

    code, out, _ = orbiter("pipeline", "show", "shop-api", "--json")
    import json

    shown = json.loads(out)
    assert [s["environment"] for s in shown["stages"]] == ["cert", "test", "production"]
    assert shown["stages"][0]["gates"][0] == {
        "name": "health", "kind": "http", "url": "http://{certname}:8080/health", "body_regex": "{version}",
        "expected_status": [200], "retries": 2, "retry_delay_s": 5.0, "timeout_s": 600.0}


def test_applying_again_updates_in_place(tmp_path):
    fleet()
    orbiter("pipeline", "apply", _file(tmp_path, DEFINITION), "--as", "admin")
    changed = yaml.safe_load(textwrap.dedent(DEFINITION))
    changed["stages"][0]["gates"] = changed["stages"][0]["gates"][:1]
    changed["stages"] = [changed["stages"][0], changed["stages"][2]]
    (tmp_path / "v2.yaml").write_text(yaml.safe_dump(changed))
    code, out, _ = orbiter("pipeline", "apply", str(tmp_path / "v2.yaml"), "--as", "admin")
    assert code == 0
    assert out.strip().startswith("pipeline of shop-api: cert [unit] → production (approval);")
    assert Pipeline.objects.count() == 1


@pytest.mark.parametrize("change, message", [
    (("stages", 0, "environment", "staging"), "stages[0].environment: unknown environment 'staging'; known: "),
    (("stages", 0, "gates", 0, "kind", "selenium"), "stages[0].gates[0].kind: 'selenium' is not allowed; allowed: "
                                                    "command, http, jenkins, manual"),
    (("stages", 0, "gates", 0, "command", "make test"), "stages[0].gates[0].command: give the program and its "
                                                        "arguments as a list"),
    (("stages", 0, "gates", 1, "url", "http://{host}/"), "stages[0].gates[1].url: unknown placeholder {host}"),
    (("stages", 2, "promotion", "manual"), "stages[2].promotion: 'manual' is not allowed; allowed: automatic, approval"),
    (("policy", "latest"), "policy: 'latest' is not allowed; allowed: queue, supersede"),
    (("stages", 0, "gates", 0, "retries", 99), "stages[0].gates[0].retries: give a whole number from 0 to 10"),
])
def test_a_bad_definition_is_refused_naming_the_field_and_nothing_changes(tmp_path, change, message):
    fleet()
    spec = yaml.safe_load(textwrap.dedent(DEFINITION))
    *path, key, value = change
    target = spec
    for step in path:
        target = target[step]
    target[key] = value
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(spec))
    code, out, err = orbiter("pipeline", "apply", str(tmp_path / "bad.yaml"), "--as", "admin")
    assert code == 2
    assert err.startswith(f"error: {message}")
    assert not Pipeline.objects.exists()


def test_stages_out_of_the_environments_order_are_refused(tmp_path):
    fleet()
    code, _, err = orbiter("pipeline", "apply", _file(tmp_path, """
        application: shop-api
        stages: [{environment: production}, {environment: cert}]
    """), "--as", "admin")
    assert code == 2
    assert "stages[1].environment: cert (order 0) comes before the previous stage's environment (order 2)" in err


def test_why_and_approve_from_the_command_line(flow, tmp_path):
    fleet()
    orbiter("pipeline", "apply", _file(tmp_path, """
        application: shop-api
        stages: [{environment: cert}, {environment: production, promotion: approval}]
    """), "--as", "admin")
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.AWAITING_APPROVAL)

    code, out, _ = orbiter("pipeline", "why", "shop-api", "1.1.0-1")
    assert (code, out.strip()) == (0, "1.1.0-1 waits for a person to approve its promotion to production "
                                      "(orbiter pipeline approve shop-api 1.1.0-1 production)")
    code, out, _ = orbiter("pipeline", "approve", "shop-api", "1.1.0-1", "production", "--as", "carol")
    assert (code, out.strip()) == (0, "1.1.0-1: promotion to production approved by carol")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert versions_pinned("production") == {"1.1.0-1"}


def test_why_prints_a_failed_gates_output(flow, tmp_path):
    fleet()
    orbiter("pipeline", "apply", _file(tmp_path, """
        application: shop-api
        stages:
          - environment: cert
            gates: [{name: lint, kind: command, command: ["sh", "-c", "echo 'E501 line too long'; exit 1"]}]
    """), "--as", "admin")
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.FAILED)
    code, out, _ = orbiter("pipeline", "why", "shop-api", "1.1.0-1")
    assert out.splitlines() == [
        "1.1.0-1 is stopped at cert: gate lint failed (sh exited 1); last output: E501 line too long",
        "--- gate lint (command, failed): sh exited 1",
        "E501 line too long",
    ]
