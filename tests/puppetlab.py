"""The Puppet server path for tests (a pytest plugin, loaded by tests/conftest.py).

`puppetserver` and `puppetdb` are session fixtures over one `lab.puppetlab.PuppetLab`:
each JVM starts at most once per pytest run, when a test first asks for it (a run that
uses neither starts neither), and stops at the end. Both give the PuppetLab:

    puppetdb.puppetdb_url, .puppetdb_ssl_url, .ca_file, .client_cert(), .query(pql),
    .deactivate(certname)                   # PuppetDB only (the CA is made for its TLS)
    puppetserver.server_url, .server_port, .point_enc(url, token), .environment(name, modules),
    .node(certname).agent(noop=..., tags=...)   # puppet agent --onetime through the server

Asking `puppetserver` also starts PuppetDB (the server stores facts, catalogs and reports
there). PuppetDB's database lives in the PostgreSQL lab/test started (ORBITER_DATABASE_URL).
Tests share these services: each uses its own certnames and its own Puppet environment.
"""

import os

import pytest

from lab.services import PuppetDB, PuppetServer

_labs = []  # the session's PuppetLab, for the start-up figures in the summary


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required (ORBITER_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available: run the suite with ./lab/test")


@pytest.fixture(scope="session")
def puppet_lab(tmp_path_factory):
    from lab.puppetlab import PuppetLab

    _require("puppetserver and PuppetDB (apt-get install puppetserver puppetdb puppet-terminus-puppetdb)",
             PuppetServer.installed() and PuppetDB.installed())
    _require("PostgreSQL (ORBITER_DATABASE_URL)",
             os.environ.get("ORBITER_DATABASE_URL", "").startswith("postgresql://"))
    lab = PuppetLab(tmp_path_factory.mktemp("puppetlab"))
    _labs.append(lab)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="session")
def puppetdb(puppet_lab):
    """The lab PuppetDB (started once, on first use)."""
    puppet_lab.puppetdb()
    return puppet_lab


@pytest.fixture(scope="session")
def puppetserver(puppet_lab):
    """The lab puppetserver with its PuppetDB (started once, on first use)."""
    puppet_lab.puppetserver()
    return puppet_lab


def pytest_terminal_summary(terminalreporter):
    for lab in _labs:
        if lab.startup_s:
            figures = ", ".join(f"{name} {seconds:g} s" for name, seconds in lab.startup_s.items())
            terminalreporter.write_line(f"puppet lab start-up: {figures}")
