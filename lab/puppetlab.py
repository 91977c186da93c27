"""The lab's Puppet server path: a PuppetServer (its own CA, Orbiter's ENC) storing facts,
catalogs and reports in a PuppetDB, both started lazily and at most once, and the nodes
that run `puppet agent` against it.

    lab = PuppetLab(lab_dir)           # database: ORBITER_DATABASE_URL unless given
    db = lab.puppetdb()                # starts PuppetDB only (the CA is made for its TLS)
    server = lab.puppetserver()        # starts the server (and PuppetDB if not yet, in parallel)
    server.point_enc(control_plane_url, token)
    node = lab.node("web01.lab.test")  # own confdir/ssldir; its certificate signed by the CA
    node.agent().returncode            # puppet agent --onetime ... --detailed-exitcodes
    lab.deactivate("web01.lab.test")   # puppet node deactivate, against the lab PuppetDB
    lab.close()                        # stops what was started

Start-up seconds of each service are in `lab.startup_s`.
"""
from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from lab.services import CERTNAME_RE, PuppetDB, PuppetServer, free_port, started

AGENT_TIMEOUT_S = 300.0


class PuppetNode:
    """A Puppet node of the lab server: its own confdir (puppet.conf), ssldir, vardir and
    publicdir (last_run_summary.yaml) under `confdir`, and its certname."""

    def __init__(self, server: PuppetServer, certname: str, confdir: Path):
        if not CERTNAME_RE.fullmatch(certname):
            raise ValueError(f"certname {certname!r}: lowercase letters, digits, '.', '-' and '_' only")
        self.server, self.certname, self.confdir = server, certname, Path(confdir)
        self.vardir, self.ssldir = self.confdir / "var", self.confdir / "ssl"
        self.publicdir = self.confdir / "public"
        self.cert_file = self.ssldir / "certs" / f"{certname}.pem"
        self.key_file = self.ssldir / "private_keys" / f"{certname}.pem"

    def write_config(self) -> None:
        self.confdir.mkdir(parents=True, exist_ok=True)
        # http_keepalive_timeout = 0: with Debian's puppet-agent 7.23 and puppetserver 7.9.5, a
        # request on a connection kept after a PUT waits out the server's 30 s idle timeout.
        (self.confdir / "puppet.conf").write_text(
            f"[main]\ncertname = {self.certname}\nvardir = {self.vardir}\nssldir = {self.ssldir}\n"
            f"publicdir = {self.publicdir}\nlogdir = {self.confdir / 'log'}\nrundir = {self.confdir / 'run'}\n"
            f"server = 127.0.0.1\nserverport = {self.server.port}\nkeylength = 2048\n"
            "http_keepalive_timeout = 0\nreport = true\n")

    def server_args(self) -> list[str]:
        """`puppet agent` arguments naming this node's confdir and the lab server."""
        return ["--confdir", str(self.confdir), "--server", "127.0.0.1",
                "--serverport", str(self.server.port)]

    def bootstrap(self) -> None:
        """Key, CSR, certificate signed by the server's CA (autosign.conf lists this node)."""
        self.write_config()
        autosign = self.server.autosign
        if self.certname not in autosign.read_text().split():
            with open(autosign, "a") as f:
                f.write(self.certname + "\n")
        r = subprocess.run(["puppet", "ssl", "bootstrap", *self.server_args(), "--waitforcert", "0"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or not self.cert_file.is_file():
            raise RuntimeError(f"puppet ssl bootstrap for {self.certname} failed (exit {r.returncode}):\n"
                               f"{r.stdout[-2000:]}{r.stderr[-2000:]}")

    def last_transaction_uuid(self) -> str | None:
        """The transaction_uuid of this node's last run (PuppetDB files its report and
        catalog under it), from last_run_report.yaml."""
        with contextlib.suppress(OSError):
            text = (self.vardir / "state" / "last_run_report.yaml").read_text()
            if found := re.search(r"^transaction_uuid: ['\"]?([0-9a-f-]{36})", text, re.MULTILINE):
                return found.group(1)
        return None

    def agent_command(self, *, noop: bool = False, tags: tuple[str, ...] = ()) -> list[str]:
        return ["puppet", "agent", *self.server_args(), "--onetime", "--no-daemonize",
                "--detailed-exitcodes", "--no-splay", "--waitforcert", "0", "--logdest", "console",
                *(["--noop"] if noop else []), *([f"--tags={','.join(tags)}"] if tags else [])]

    def agent(self, *, noop: bool = False, tags: tuple[str, ...] = (),
              timeout: float = AGENT_TIMEOUT_S) -> subprocess.CompletedProcess:
        """One `puppet agent --onetime` run through the lab server; its exit code says how
        it went (--detailed-exitcodes: 0 unchanged, 2 changed, 4/6 failures, 1 run failed)."""
        return subprocess.run(self.agent_command(noop=noop, tags=tags), capture_output=True,
                              text=True, timeout=timeout)


class PuppetLab:
    """PuppetServer and PuppetDB under `lab_dir`, each started at most once, when first
    asked for; `close()` stops them (and is safe to call when nothing was started)."""

    def __init__(self, lab_dir, *, database_url: str = ""):
        self.dir = Path(lab_dir)
        self._db = PuppetDB(self.dir, database_url=database_url, ssl_port=free_port())
        self._server = PuppetServer(self.dir, puppetdb_url=self._db.ssl_url)
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._db_up = self._server_up = False
        self.startup_s: dict[str, float] = {}
        self.client_cert_file = self.client_key_file = None  # client_cert(): for PuppetDB's clients

    # --- what tests and benchmarks use (each starts what it needs, once) --------------------

    @property
    def ca_file(self) -> Path:
        """The lab CA's chain (intermediate, root): verifies the server and PuppetDB."""
        self._server.configure()
        return self._server.ca_file

    @property
    def server_url(self) -> str:
        return self.puppetserver().url

    @property
    def server_port(self) -> int:
        return self.puppetserver().port

    @property
    def puppetdb_url(self) -> str:
        """PuppetDB's plain HTTP API (loopback only; no client certificate needed)."""
        return self.puppetdb().url

    @property
    def puppetdb_ssl_url(self) -> str:
        """PuppetDB's HTTPS API: verify with `ca_file`, present `client_cert()`."""
        return self.puppetdb().ssl_url

    def point_enc(self, url: str, token: str) -> None:
        """Aim the server's orbiter-enc at a control plane (read on every Puppet run)."""
        self._server.point_enc(url, token)

    def environment(self, name: str, modules: dict[str, str]) -> Path:
        """A Puppet environment NAME on the server with these modules ({module: init.pp}):
        give each test its own (an Orbiter environment's puppet_environment) so tests
        sharing the server do not share Puppet code."""
        if not re.fullmatch(r"[a-z0-9_]{1,63}", name):
            raise ValueError(f"environment {name!r}: lowercase letters, digits and '_' only")
        self._server.configure()
        root = self._server.codedir / "environments" / name
        (root / "manifests").mkdir(parents=True, exist_ok=True)
        (root / "manifests" / "site.pp").write_text("# the classes come from the ENC\n")
        for module, init_pp in modules.items():
            (root / "modules" / module / "manifests").mkdir(parents=True, exist_ok=True)
            (root / "modules" / module / "manifests" / "init.pp").write_text(init_pp)
        return root

    def query(self, pql: str, timeout: float = 30.0) -> list:
        """The answer of PuppetDB's query API (v4) to a PQL query."""
        url = f"{self.puppetdb_url}/pdb/query/v4?{urllib.parse.urlencode({'query': pql})}"
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our URL
            return json.load(response)

    def _start(self, *services) -> None:
        if not self._server.ca_file.is_file():  # the CA: PuppetDB's certificate comes from it
            began = time.monotonic()
            self._server.configure()
            self.startup_s["puppet CA setup"] = round(time.monotonic() - began, 1)
        if self._db in services and not Path(self._db.cert_file or "/nonexistent").is_file():
            self._db.ca_file = self.ca_file
            self._db.cert_file, self._db.key_file = self._server.issue_cert("puppetdb", self.dir / "puppetdb-tls")
        began = time.monotonic()
        self._stack.enter_context(started(*services))
        for service in services:  # started in parallel: the figure is the pair's
            self.startup_s[service.name] = round(time.monotonic() - began, 1)

    def puppetdb(self) -> PuppetDB:
        with self._lock:
            if not self._db_up:
                self._start(self._db)
                self._db_up = True
        return self._db

    def puppetserver(self) -> PuppetServer:
        """The server; its PuppetDB is started with it (in parallel) if it is not up yet."""
        with self._lock:
            if not self._server_up:
                self._start(*((self._server,) if self._db_up else (self._server, self._db)))
                self._server_up = self._db_up = True
        return self._server

    def client_cert(self) -> tuple[Path, Path]:
        """(cert, key) of a client of PuppetDB signed by the lab CA (for a HostSource)."""
        with self._lock:
            if self.client_cert_file is None:
                self.client_cert_file, self.client_key_file = self._server.issue_cert(
                    "orbiter-inventory", self.dir / "client-tls")
        return self.client_cert_file, self.client_key_file

    def node(self, certname: str) -> PuppetNode:
        """A new node with its certificate signed by the running server's CA."""
        node = PuppetNode(self.puppetserver(), certname, self.dir / "nodes" / certname)
        node.bootstrap()
        return node

    def deactivate(self, certname: str) -> subprocess.CompletedProcess:
        """`puppet node deactivate CERTNAME` with the server's puppet.conf (its puppetdb.conf
        and certificate): PuppetDB marks the node deactivated."""
        if not CERTNAME_RE.fullmatch(certname):
            raise ValueError(f"certname {certname!r}: lowercase letters, digits, '.', '-' and '_' only")
        self.puppetdb()
        return subprocess.run(["puppet", "node", "deactivate", certname, "--confdir", str(self._server.confdir)],
                              capture_output=True, text=True, timeout=120)

    def close(self) -> None:
        self._stack.close()
