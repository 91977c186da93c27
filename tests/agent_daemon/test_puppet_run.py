"""`puppet.run` applies the host's catalog with real `puppet apply` and reports what it did."""

import pytest

pytestmark = pytest.mark.integration

RUN = {"noop": False, "timeout_s": 120}


def run_puppet(control_plane, host):
    request = control_plane.request("puppet.run", RUN, target=host)
    control_plane.send(host, control_plane.signed(host, request))
    [(_, _, reply)] = control_plane.replies_to(host, request, timeout=90)
    return reply.result


def test_it_applies_the_catalog_then_reports_no_change(host, control_plane):
    first = run_puppet(control_plane, host)

    assert (host.root / "version").read_text() == "1.2.3\n"
    assert first["ok"] is True and first["status"] == "ok"
    assert first["kind"] == "changed" and first["changed"] is True and first["exit_code"] == 2
    assert first["resources"]["changed"] == 1 and first["resources"]["failed"] == 0
    assert first["puppet_version"].startswith("7.") and first["report_status"] == "changed"

    second = run_puppet(control_plane, host)

    assert second["ok"] is True and second["kind"] == "unchanged" and second["changed"] is False
    assert second["exit_code"] == 0 and second["resources"]["changed"] == 0
    assert host.puppet_runs == 2
    assert facts(control_plane, host)["last_run"]["resources"]["total"] >= 1


def facts(control_plane, host):
    request = control_plane.request("facts", target=host)
    control_plane.send(host, control_plane.signed(host, request))
    [(_, _, reply)] = control_plane.replies_to(host, request)
    return reply.result


def test_facts_report_the_installed_versions_of_managed_packages(host, control_plane):
    result = facts(control_plane, host)

    assert result["ok"] is True and result["certname"] == host.certname
    assert result["packages"]["puppet-agent"].startswith("7.")
    assert result["packages"]["no-such-package"] is None
    assert result["last_run"] is None  # this host never ran Puppet


def test_it_reports_resource_failures_as_a_failed_attempt(make_host, control_plane):
    host = make_host(manifest="class {{ 'testapp::broken': root => '{root}' }}")

    result = run_puppet(control_plane, host)

    assert result["ok"] is False and result["status"] == "failed"
    assert result["kind"] == "resource_failures" and result["exit_code"] == 4
    assert result["transient"] is False and result["permanent"] is False
    assert result["resources"]["failed"] == 1 and result["report_status"] == "failed"
    assert any("missing-dir" in log["source"] + log["message"] for log in result["logs"])
    assert "missing-dir" in result["output_tail"]
