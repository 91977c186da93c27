"""The agent reports its facts unasked once connected, and in the reply to each Puppet run."""

import pytest

pytestmark = pytest.mark.integration


def test_it_reports_installed_versions_at_start_and_after_each_run(host, control_plane):
    [(headers, _, started)] = control_plane.reports_from(host)

    assert headers["persistent"] == "true"
    assert (started.kind, started.action, started.in_reply_to) == ("report", "facts", None)
    assert started.sender == host.certname  # verified against the agent's public key
    assert started.result["ok"] is True and started.result["certname"] == host.certname
    assert started.result["packages"]["puppet-agent"].startswith("7.")
    assert started.result["packages"]["no-such-package"] is None
    assert started.result["last_run"] is None  # this host never ran Puppet

    request = control_plane.request("puppet.run", {"noop": False, "timeout_s": 120}, target=host)
    control_plane.send(host, control_plane.signed(host, request))
    [(_, _, reply)] = control_plane.replies_to(host, request, timeout=90)
    after_run = reply.result["facts"]  # after a run the facts travel in the reply

    assert after_run["last_run"]["resources"]["changed"] == 1
    assert after_run["packages"]["puppet-agent"] == started.result["packages"]["puppet-agent"]
    assert after_run["packages"]["no-such-package"] is None
    assert [e["reason"] for e in host.events("report")] == ["connected"]  # no second message


def test_it_reports_again_when_it_restarts(host, control_plane):
    control_plane.reports_from(host)
    host.stop()

    host.start()

    assert len(control_plane.reports_from(host, count=2)) == 2
    assert [e["reason"] for e in host.events("report")] == ["connected", "connected"]
