"""Gates after a stage's deployment: commands and HTTP checks decide promotion; a failure
stops it and is explained with the gate's output; flaky gates get their retries; a timeout
or an inconclusive result waits for a person, who retries or decides."""

import http.server
import threading

import pytest

from orbiter.pipelines import services, states
from tests.pipelines.support import (
    define,
    fleet,
    gate,
    publish,
    run_of,
    script,
    versions_pinned,
    wait_for,
    why,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _one_stage(gates: list[dict], *, url: str = "", then_production: bool = True) -> None:
    stages = [{"environment": "cert", "url": url, "gates": gates}]
    if then_production:
        stages.append({"environment": "production"})
    define(stages=stages)


def test_a_command_gate_sees_the_stage_in_its_environment_and_its_output_is_kept(flow, tmp_path):
    fleet()
    report = tmp_path / "env.txt"
    check = script(tmp_path, "env", f"""
        import os
        names = ["ORBITER_APPLICATION", "ORBITER_ENVIRONMENT", "ORBITER_VERSION", "ORBITER_STAGE_URL",
                 "ORBITER_HOSTS", "ORBITER_NEVRA"]
        with open({str(report)!r}, "w") as f:
            f.write("\\n".join(os.environ[n] for n in names))
        print("smoke ok; secrets visible:", "ORBITER_SECRET_KEY" in os.environ or "ORBITER_DATABASE_URL" in os.environ)
    """)
    _one_stage([{"name": "smoke", "kind": "command", "command": check}], url="http://cert.shop.test/")
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)

    assert report.read_text().splitlines() == [
        "shop-api", "cert", "1.1.0-1", "http://cert.shop.test/", "shop-api-cert-01 shop-api-cert-02",
        "shop-api-1.1.0-1.noarch"]
    smoke = gate("1.1.0-1", "smoke")
    assert (smoke.status, smoke.attempts) == ("passed", 1)
    assert smoke.output.strip() == "smoke ok; secrets visible: False"


def test_a_failing_gate_stops_promotion_and_the_explanation_names_it_and_shows_its_output(flow, tmp_path):
    fleet()
    failing = script(tmp_path, "ui", """
        import sys
        print("3 tests, 1 failure")
        print("FAIL: checkout button missing on /cart")
        sys.exit(1)
    """)
    _one_stage([{"name": "ui-tests", "kind": "command", "command": failing},
                {"name": "smoke", "kind": "command", "command": ["true"]}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.FAILED)

    answer = why("1.1.0-1")
    assert answer["sentence"].startswith("1.1.0-1 is stopped at cert: gate ui-tests failed (")
    assert answer["sentence"].endswith("last output: FAIL: checkout button missing on /cart")
    gates = {g["name"]: g for g in answer["details"]["stage"]["gates"]}
    assert "FAIL: checkout button missing on /cart" in gates["ui-tests"]["output"]
    assert gates["smoke"]["status"] == "passed"
    assert versions_pinned("production") == set()


def test_a_flaky_gate_is_retried_per_its_settings_and_passes(flow, tmp_path):
    fleet()
    counter = tmp_path / "count"
    flaky = script(tmp_path, "flaky", f"""
        import pathlib, sys
        p = pathlib.Path({str(counter)!r})
        n = int(p.read_text()) + 1 if p.exists() else 1
        p.write_text(str(n))
        print("attempt", n)
        sys.exit(0 if n >= 3 else 1)
    """)
    _one_stage([{"name": "flaky", "kind": "command", "command": flaky, "retries": 2, "retry_delay_s": 0}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    flaky_run = gate("1.1.0-1", "flaky")
    assert (flaky_run.status, flaky_run.attempts, flaky_run.output.strip()) == ("passed", 3, "attempt 3")


def test_a_gate_that_times_out_pauses_the_run_for_a_person_who_retries_it(flow, tmp_path):
    fleet()
    marker = tmp_path / "fast"
    slow = script(tmp_path, "slow", f"""
        import os, time
        print("waiting for the UI", flush=True)
        if not os.path.exists({str(marker)!r}):
            time.sleep(30)
    """)
    _one_stage([{"name": "selenium", "kind": "command", "command": slow, "timeout_s": 2}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.PAUSED)

    answer = why("1.1.0-1")
    assert answer["reason"] == "gate_paused"
    assert answer["sentence"].startswith("1.1.0-1 is paused at cert: gate selenium timed out after 1 attempt(s): ")
    assert answer["sentence"].endswith("a person retries it or decides it")
    assert "waiting for the UI" in gate("1.1.0-1", "selenium").output

    marker.write_text("")
    services.pipeline_retry(run=run_of("1.1.0-1"), actor="alice")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)


def test_an_inconclusive_result_pauses_and_a_person_may_pass_the_gate(flow, tmp_path):
    fleet()
    unsure = script(tmp_path, "unsure", """
        import sys
        print("test database unavailable")
        sys.exit(75)
    """)
    _one_stage([{"name": "integration", "kind": "command", "command": unsure, "inconclusive_exit_codes": [75]}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.PAUSED)
    assert "inconclusive" in why("1.1.0-1")["sentence"]

    services.gate_decide(gate_run=gate("1.1.0-1", "integration"), passed=True, actor="alice",
                         comment="ran it by hand")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    decided = gate("1.1.0-1", "integration")
    assert (decided.status, decided.decided_by, decided.message) == ("passed", "alice", "passed by alice: ran it by hand")


def test_a_failed_run_can_be_retried_once_the_cause_is_fixed(flow, tmp_path):
    fleet()
    fixed = tmp_path / "fixed"
    check = script(tmp_path, "check", f"""
        import os, sys
        sys.exit(0 if os.path.exists({str(fixed)!r}) else 1)
    """)
    _one_stage([{"name": "check", "kind": "command", "command": check}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.FAILED)
    fixed.write_text("")
    services.pipeline_retry(run=run_of("1.1.0-1"), actor="alice")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert versions_pinned("production") == {"1.1.0-1"}


def test_a_manual_gate_waits_for_a_person_and_says_so(flow):
    fleet()
    _one_stage([{"name": "exploratory", "kind": "manual", "instructions": "click through the shop"}])
    publish("1.1.0-1")
    flow.run_until(lambda: why("1.1.0-1")["reason"] == "manual_gate")
    assert why("1.1.0-1")["sentence"] == "1.1.0-1 waits at cert for a person to decide gate exploratory"

    services.gate_decide(gate_run=gate("1.1.0-1", "exploratory"), passed=False, actor="qa", comment="cart broken")
    wait_for(flow, "1.1.0-1", states.FAILED)
    assert why("1.1.0-1")["sentence"] == "1.1.0-1 is stopped at cert: gate exploratory failed (failed by qa: cart broken)"


def test_retrying_a_run_whose_manual_gate_was_failed_asks_a_person_again(flow):
    fleet()
    _one_stage([{"name": "exploratory", "kind": "manual"}])
    publish("1.1.0-1")
    flow.run_until(lambda: why("1.1.0-1")["reason"] == "manual_gate")
    services.gate_decide(gate_run=gate("1.1.0-1", "exploratory"), passed=False, actor="qa", comment="cart broken")
    wait_for(flow, "1.1.0-1", states.FAILED)

    services.pipeline_retry(run=run_of("1.1.0-1"), actor="alice")
    flow.run_until(lambda: why("1.1.0-1")["reason"] == "manual_gate")
    services.gate_decide(gate_run=gate("1.1.0-1", "exploratory"), passed=True, actor="qa", comment="fixed")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    assert versions_pinned("production") == {"1.1.0-1"}


class _Site(http.server.BaseHTTPRequestHandler):
    """Each host answers /<certname>/health with the version it runs; cert-02 is broken."""

    version = "1.1.0-1"

    def do_GET(self):
        certname = self.path.strip("/").split("/")[0]
        status, body = (500, "boom") if certname == "shop-api-cert-02" and self.server.broken else (200, f"ok {self.version}")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.broken = False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_http_gate_checks_every_host_and_the_version_it_answers(flow, site):
    fleet()
    port = site.server_address[1]
    _one_stage([{"name": "health", "kind": "http", "url": f"http://127.0.0.1:{port}/{{certname}}/health",
                 "expected_status": 200, "body_regex": "ok {version}$"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.SUCCEEDED)
    health = gate("1.1.0-1", "health")
    assert health.message == "2 URL(s) answered as expected"
    assert f"GET http://127.0.0.1:{port}/shop-api-cert-02/health → 200" in health.output


def test_an_http_gate_fails_naming_the_host_that_answered_wrong(flow, site):
    fleet()
    site.broken = True
    port = site.server_address[1]
    _one_stage([{"name": "health", "kind": "http", "url": f"http://127.0.0.1:{port}/{{certname}}/health",
                 "retries": 1, "retry_delay_s": 0}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.FAILED)
    health = gate("1.1.0-1", "health")
    assert health.attempts == 2
    assert health.message == f"GET http://127.0.0.1:{port}/shop-api-cert-02/health: status 500, expected 200"
    assert "boom" in health.output


def test_an_http_gate_against_a_closed_port_fails_with_the_reason(flow):
    fleet()
    from lab.services import free_port

    _one_stage([{"name": "health", "kind": "http", "url": f"http://127.0.0.1:{free_port()}/"}])
    publish("1.1.0-1")
    wait_for(flow, "1.1.0-1", states.FAILED)
    assert "connection failed" in gate("1.1.0-1", "health").message
