"""Throwaway loopback services (PostgreSQL, Redis, ActiveMQ, HAProxy, puppetserver, PuppetDB)
for tests and benchmarks.

Standard library only; each service gets a free 127.0.0.1 port unless one is given.

    from lab.services import running, started, ActiveMQ, HAProxy, Postgres, haproxy_command
    with running("postgres", "redis") as env:  # started in parallel; stopped on exit, exception,
        env["ORBITER_DATABASE_URL"], env["ORBITER_BROKER_URL"]  # SIGTERM, SIGHUP or Ctrl-C
    with started(ActiveMQ(lab), HAProxy(lab, config_body)) as (mq, ha):  # same guarantees
        mq.url, mq.restart()  # same port and kahaDB: persistent messages survive
        mq.credentials("web01.example.test")  # (user, password) of that host's agent
        mq.control_plane  # (user, password) of the control plane; mq.env() has it too
        haproxy_command(ha.socket, "show info")  # ha.url is the runtime API socket too
    pg = Postgres("/tmp/mylab", durable=True); pg.start(); print(pg.url); pg.stop()
    # puppetserver and PuppetDB need each other's certificates: lab/puppetlab.py starts them.

    python lab/services.py run [--services postgres,redis] -- CMD ARGS...
    python lab/services.py ensure-installed [--services postgres,redis,activemq,haproxy,rpm,createrepo,
                                                        puppetserver,puppetdb]

`run` exits with CMD's exit code (128+N if killed by signal N).  `--services` and `running()`
default to postgres,redis.  New services subclass `Service` and go into `SERVICES`.
ORBITER_PG_BIN overrides the PG bin dir.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import glob
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

_PG_BINS = sorted(glob.glob("/usr/lib/postgresql/[0-9]*/bin"), key=lambda p: int(p.split("/")[-2]))
PG_BIN = Path(os.environ.get("ORBITER_PG_BIN") or (_PG_BINS or ["/usr/lib/postgresql/15/bin"])[-1])
CERTNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,252}")  # what the lab accepts as a Puppet certname


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """Subclasses set the class attributes and implement `start()` (blocks until ready, else
    RuntimeError with the log tail) and `stop()` (idempotent, safe after failed/cancelled start)."""

    name = env_var = apt_package = url_format = ""  # name: registry key and lab subdir
    binaries: tuple[str, ...] = ()  # installed() checks they all exist
    start_timeout = 60.0

    def __init__(self, lab_dir, port: int | None = None, timeout: float | None = None):
        self.dir, self.port = Path(lab_dir) / self.name, port or free_port()
        self.timeout, self.log = timeout or self.start_timeout, self.dir / f"{self.name}.log"
        self._helper: subprocess.Popen | None = None
        self._cancelled = False

    @property
    def url(self) -> str:
        return self.url_format.format(port=self.port)

    @classmethod
    def installed(cls) -> bool:
        return all(shutil.which(b) for b in cls.binaries)

    def env(self) -> dict[str, str]:
        """What a client of this service needs: its URL (and, for some, credentials)."""
        return {self.env_var: self.url}

    def _fail(self, what: str, output: str = "") -> RuntimeError:
        try:
            lines = self.log.read_text(errors="replace").splitlines()  # Java stack frames: noise
            tail = "\n".join([ln for ln in lines if not ln.startswith(("\tat ", "\t..."))][-20:])
        except OSError:
            tail = "(no log)"
        return RuntimeError(f"{self.name} on port {self.port}: {what}\n{output}"
                            f"--- last lines of {self.log} ---\n{tail}")

    def cancel(self, sig=signal.SIGTERM) -> None:
        """Abort an in-flight start() from another thread; stop() is still needed afterwards.
        Signals the helper's whole process group: initdb's single-user backend must die too."""
        self._cancelled = True
        with contextlib.suppress(AttributeError, OSError):
            if self._helper.poll() is None:
                os.killpg(self._helper.pid, sig)

    def _run(self, args: list, what: str, timeout: float | None = None, **kw) -> None:
        """Run a helper in its own session: a terminal Ctrl-C must not hit it (or the postmaster
        it spawns) before our orderly stop."""
        if self._cancelled:
            raise RuntimeError(f"{self.name}: start cancelled")
        timeout = timeout or self.timeout
        with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True, **kw) as self._helper:
            if self._cancelled:
                self.cancel()
            try:
                out = self._helper.communicate(timeout=timeout)[0]
            except subprocess.TimeoutExpired:
                self.cancel(signal.SIGKILL)
                raise self._fail(f"{what} timed out after {timeout}s") from None
        if self._helper.returncode != 0:
            raise self._fail(f"{what} failed (exit {self._helper.returncode})", out)


class Postgres(Service):
    name, env_var, apt_package = "postgres", "ORBITER_DATABASE_URL", "postgresql"
    url_format = "postgresql://postgres@127.0.0.1:{port}/orbiter"
    binaries = tuple(str(PG_BIN / b) for b in ("initdb", "pg_ctl", "postgres", "createdb"))
    NO_DURABILITY = ["-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off"]

    def __init__(self, lab_dir, port=None, timeout=None, durable: bool = False):
        super().__init__(lab_dir, port, timeout)
        self.durable, self.data = durable, self.dir / "data"
        self._launched = False  # pg_ctl start was run: a postmaster may exist
        # initdb/pg_ctl refuse root: switch to the postgres user in the child (no runuser between)
        root = os.geteuid() == 0
        self._as_pg = dict(user="postgres", group="postgres", extra_groups=[]) if root else {}

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._as_pg:  # the postgres user must own our dir and traverse the lab dir
            os.chmod(self.dir.parent, 0o755)
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], "initdb", **self._as_pg)
        self._launched = True
        self._pg_ctl_start()
        self._run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", "postgres", "orbiter"], "createdb")

    def _pg_ctl_start(self) -> None:
        opts = ["-p", str(self.port), "-c", "listen_addresses=127.0.0.1", "-k", str(self.dir)]
        opts += [] if self.durable else self.NO_DURABILITY
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                   "-t", str(int(self.timeout)), "-o", shlex.join(opts), "start"],
                  "pg_ctl start", self.timeout + 10, **self._as_pg)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server (fast: clients are disconnected), keep it down `down_s`, start it
        again on the same data and port; returns once it accepts connections."""
        self.stop()
        time.sleep(down_s)
        self._pg_ctl_start()

    def stop(self) -> None:
        pidfile, deadline, out = self.data / "postmaster.pid", time.monotonic() + 10, ""
        if not self._launched:  # start cancelled during initdb: its single-user backend exits
            while pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            return
        for mode in ("fast", "immediate"):
            if pidfile.exists():
                out = subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode,
                                      "-w", "-t", "30", "stop"], capture_output=True, text=True,
                                     timeout=40, **self._as_pg).stderr
        if pidfile.exists():
            raise self._fail("pg_ctl stop failed", out)


class Redis(Service):
    name, env_var, apt_package = "redis", "ORBITER_BROKER_URL", "redis-server"
    url_format, binaries = "redis://127.0.0.1:{port}/0", ("redis-server",)
    start_timeout, proc = 20.0, None  # proc: the redis-server Popen once started

    def _command(self, cmd: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(cmd + b"\r\n")
            return s.recv(64)

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--logfile", str(self.log)]
        with open(self.log, "ab") as log:  # also catches errors printed before the log is opened
            if not self._cancelled:
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while self.proc and time.monotonic() < deadline and not self._cancelled:
            if self.proc.poll() is not None:
                raise self._fail(f"redis-server exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError):
                if self._command(b"PING").startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        raise self._fail("start cancelled" if self._cancelled else f"no PONG in {self.timeout}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            self._command(b"SHUTDOWN NOSAVE")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.proc.kill()  # no-op if it already exited
        self.proc.wait()


class ActiveMQ(Service):
    """ActiveMQ 5.17 (Debian's package) with only a STOMP connector, kahaDB in `dir/data`: a
    java child in the foreground, ready when a STOMP CONNECT is answered with CONNECTED.

    Secured as in production (docs/agents.md, "The broker"): lab/activemq's plugin, compiled
    once with javac into a cache, refuses anonymous and wrong logins and lets the agent X read
    only queue orbiter.agent.X and topic orbiter.all and write only queue orbiter.replies; the
    control plane (`control_plane`) may do everything. Each broker gets a fresh secret (or the
    one given), kept across restart(); every password derives from it (`credentials(user)`)."""

    name, env_var, apt_package = "activemq", "ORBITER_STOMP_URL", "activemq default-jdk-headless"
    url_format, binaries = "stomp://127.0.0.1:{port}", ("java", "javac")
    HOME = Path("/usr/share/activemq")
    JAR = HOME / "bin" / "activemq.jar"
    PLUGIN_SOURCE = Path(__file__).resolve().parent / "activemq" / "OrbiterSecurityPlugin.java"
    CONTROL_PLANE_USER = "orbiter_control_plane"
    start_timeout, stop_timeout, proc = 60.0, 15.0, None  # proc: the java Popen once started
    CONFIG = """<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer"/>
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="orbiter"
          dataDirectory="${{activemq.data}}" persistent="true" schedulerSupport="false">
    <plugins>
      <bean xmlns="http://www.springframework.org/schema/beans" class="orbiter.activemq.OrbiterSecurityPlugin">
        <property name="secretFile" value="{secret_file}"/>
        <property name="controlPlaneUser" value="{control_plane_user}"/>
      </bean>
    </plugins>
    <persistenceAdapter><kahaDB directory="${{activemq.data}}/kahadb"/></persistenceAdapter>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:{port}?transport.hbGracePeriodMultiplier=1.5&amp;transport.tcpNoDelay=true{uri_options}"/>
    </transportConnectors>
  </broker>
</beans>
"""
    # log4j 1.2 on stdout (= self.log): without it, only "no appenders" warnings and no broker log
    LOG4J = """log4j.rootLogger=WARN, out
log4j.logger.org.apache.activemq=INFO
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d{ISO8601} %-5p %c{1} - %m%n
"""
    JAVA_OPENS = [f"--add-opens={m}=ALL-UNNAMED" for m in (
        "java.base/java.security", "java.base/java.net", "java.base/java.lang", "java.base/java.util",
        "java.naming/javax.naming.spi", "java.rmi/sun.rmi.transport.tcp",
        "java.base/java.util.concurrent", "java.base/java.util.concurrent.atomic")]

    # wireFormat.maxFrameSize: a client sending a bigger frame is disconnected, so no frame
    # past it reaches a destination (Orbiter's messages are <= 64 KiB; docs/security.md).
    MAX_FRAME_SIZE = 131072

    def __init__(self, lab_dir, port: int | None = None, timeout: float | None = None, *,
                 max_connections: int | None = None, secret: str | None = None,
                 max_frame_size: int | None = MAX_FRAME_SIZE):
        """max_connections: the STOMP connector's maximumConnections (None: ActiveMQ's default, 1000).
        secret: the broker secret (default: a new one), e.g. another lab broker's `secret` so the
        same passwords work on both, as on brokers behind one failover list.
        max_frame_size: its wireFormat.maxFrameSize (None: no limit, as a misconfigured broker)."""
        super().__init__(lab_dir, port, timeout)
        self.max_connections, self.max_frame_size = max_connections, max_frame_size
        self.secret = secret or secrets.token_urlsafe(48)
        self.previous_secrets: list[str] = []  # still accepted (a rotation under way); see start()
        self.secret_file = self.dir / "conf" / "orbiter-broker.secret"

    @classmethod
    def installed(cls) -> bool:
        return super().installed() and cls.JAR.is_file()

    def credentials(self, user: str) -> tuple[str, str]:
        """(user, password) for an agent's certname or CONTROL_PLANE_USER on this broker:
        base64url(HMAC-SHA256(secret, "orbiter-stomp:" + user)), as the plugin derives it."""
        digest = hmac.new(self.secret.encode(), f"orbiter-stomp:{user}".encode(), hashlib.sha256).digest()
        return user, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @property
    def control_plane(self) -> tuple[str, str]:
        return self.credentials(self.CONTROL_PLANE_USER)

    def env(self) -> dict[str, str]:
        user, password = self.control_plane
        return {self.env_var: self.url, "ORBITER_STOMP_USER": user, "ORBITER_STOMP_PASSWORD": password,
                "ORBITER_STOMP_SECRET_FILE": str(self.secret_file)}

    @classmethod
    def plugin_classes(cls, cache: Path | None = None) -> Path:
        """lab/activemq's plugin compiled once per source version into a shared cache (a
        directory on the broker's classpath); concurrent first builds race harmlessly."""
        source = cls.PLUGIN_SOURCE.read_bytes()
        cache = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orbiter-lab"
        classes = cache / f"activemq-plugin-{hashlib.sha256(source).hexdigest()[:16]}"
        if classes.is_dir():
            return classes
        cache.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix="activemq-plugin-build-", dir=cache))
        try:
            r = subprocess.run(["javac", "-d", str(build), "-cp", f"{cls.HOME / 'lib'}/*",
                                str(cls.PLUGIN_SOURCE)], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"activemq: javac failed on {cls.PLUGIN_SOURCE}:\n{r.stderr[-2000:]}")
            with contextlib.suppress(OSError):  # another process built it first: keep theirs
                build.rename(classes)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        return classes

    def _stomp_connected(self, timeout: float) -> bool:
        user, password = self.control_plane
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(f"CONNECT\naccept-version:1.2\nhost:localhost\nlogin:{user}\npasscode:{password}"
                      "\n\n\x00".encode())
            data = b""
            while b"\x00" not in data and (chunk := s.recv(4096)):
                data += chunk
            if ok := data.lstrip(b"\r\n").startswith(b"CONNECTED\n"):
                s.sendall(b"DISCONNECT\n\n\x00")
            return ok

    def start(self) -> None:
        conf, data, tmp = self.dir / "conf", self.dir / "data", self.dir / "tmp"
        for d in (conf, data, tmp):
            d.mkdir(parents=True, exist_ok=True)
        uri_options = f"&amp;maximumConnections={self.max_connections}" if self.max_connections else ""
        uri_options += f"&amp;wireFormat.maxFrameSize={self.max_frame_size}" if self.max_frame_size else ""
        self.secret_file.touch(mode=0o600)
        self.secret_file.write_text("".join(f"{s}\n" for s in (self.secret, *self.previous_secrets)))
        try:
            plugin = self.plugin_classes()
        except OSError:  # no writable home (some CI runners): compile into this lab instead
            plugin = self.plugin_classes(self.dir / "plugin")
        (conf / "activemq.xml").write_text(self.CONFIG.format(
            port=self.port, uri_options=uri_options, secret_file=self.secret_file,
            control_plane_user=self.CONTROL_PLANE_USER))
        (conf / "log4j.properties").write_text(self.LOG4J)
        # C1 only (-XX:TieredStopAtLevel=1): a lab broker lives minutes, not months; C2's
        # compiler threads otherwise take CPU seconds in every test and benchmark round.
        args = ["java", "-Xms64M", "-Xmx256M", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
                f"-Djava.io.tmpdir={tmp}", "--add-reads=java.xml=java.logging", *self.JAVA_OPENS,
                f"-Dactivemq.classpath={conf}{os.pathsep}{plugin}", f"-Dactivemq.home={self.HOME}",
                f"-Dactivemq.base={self.dir}", f"-Dactivemq.conf={conf}", f"-Dactivemq.data={data}",
                "-jar", str(self.JAR), "start", f"xbean:file:{conf / 'activemq.xml'}"]
        with open(self.log, "ab") as log:
            if not self._cancelled:
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             cwd=self.dir, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while self.proc and (left := deadline - time.monotonic()) > 0 and not self._cancelled:
            if self.proc.poll() is not None:
                raise self._fail(f"java exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError):
                if self._stomp_connected(timeout=min(2.0, max(left, 0.1))):
                    return
            time.sleep(0.1)
        raise self._fail("start cancelled" if self._cancelled
                         else f"no STOMP CONNECTED in {self.timeout}s")

    def stop(self) -> None:
        """SIGTERM (the broker shuts down cleanly, kahaDB closed), SIGKILL after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=self.stop_timeout)
        self.proc.kill()  # no-op if it already exited
        self.proc.wait()

    def restart(self) -> None:
        """Stop, then start again on the same port with the same kahaDB."""
        self.stop()
        self.start()


class HAProxy(Service):
    """HAProxy in the foreground (`-db`) with the runtime API on `socket` (also `url`, the env
    var's value); `config_body` (frontends, backends...) goes after `global` and `defaults`.
    `port` is a free loopback port the body may bind, if it wants one (there is no frontend
    by default)."""

    name, env_var, apt_package, binaries = "haproxy", "ORBITER_HAPROXY_SOCKET", "haproxy", ("haproxy",)
    start_timeout, proc = 20.0, None  # proc: the haproxy Popen once started
    CONFIG = """global
    stats socket '{socket}' mode 600 level admin
    pidfile '{pidfile}'

defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s

"""

    def __init__(self, lab_dir, config_body: str = "", *, port: int | None = None,
                 timeout: float | None = None):
        super().__init__(lab_dir, port, timeout)
        self.config_body, self.config = config_body, self.dir / "haproxy.cfg"
        self.socket, self.pidfile = self.dir / "admin.sock", self.dir / "haproxy.pid"

    @property
    def url(self) -> str:
        return str(self.socket)

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if "'" in str(self.dir) or len(os.fsencode(self.socket)) > 107:  # sun_path: 108 bytes
            raise self._fail(f"unusable socket path (quote, or over 107 bytes): {self.socket}")
        self.config.write_text(self.CONFIG.format(socket=self.socket, pidfile=self.pidfile)
                               + self.config_body + ("\n" if self.config_body else ""))
        with open(self.log, "ab") as log:
            if not self._cancelled:
                self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while self.proc and time.monotonic() < deadline and not self._cancelled:
            if self.proc.poll() is not None:
                raise self._fail(f"haproxy exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError):
                if "Name: HAProxy" in haproxy_command(self.socket, "show info", timeout=2):
                    return
            time.sleep(0.02)
        raise self._fail("start cancelled" if self._cancelled else f"no `show info` in {self.timeout}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # -db: SIGTERM is a hard stop, connections closed at once
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.proc.kill()  # no-op if it already exited
        self.proc.wait()


def haproxy_command(socket_path, command: str, timeout: float = 5.0) -> str:
    """Send one runtime API command (one per connection: HAProxy answers, then closes)."""
    if "\n" in command:
        raise ValueError("one command per connection: no newline in `command`")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(os.fspath(socket_path))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


PUPPET_TEMPLATES = Path(__file__).resolve().parent / "puppet"  # the lab's Puppet config files


def _template(name: str, **values) -> str:
    """lab/puppet/NAME with its ${...} filled in (an unknown or missing name: KeyError)."""
    return string.Template((PUPPET_TEMPLATES / name).read_text()).substitute(values)


def _https_get(url: str, ca_file, timeout: float) -> bytes:
    context = ssl.create_default_context(cafile=str(ca_file))
    with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
        return response.read()


class _Jvm(Service):
    """A Puppet JVM service (trapperkeeper) in the foreground, logging to `log`: started by
    `_launch(args)`, ready when `_ready()` says so, stopped by SIGTERM (SIGKILL after 20 s).
    Heaps are bounded and the JIT is C1 only (-XX:TieredStopAtLevel=1), as for ActiveMQ: a
    lab service lives minutes, and C2's compiler threads cost start-up seconds."""

    binaries: tuple[str, ...] = ("java",)
    start_timeout, stop_timeout, proc = 240.0, 20.0, None
    JAVA_OPTS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                 "-Djava.security.egd=file:/dev/urandom"]

    def _ready(self, timeout: float) -> bool:
        raise NotImplementedError

    def _launch(self, args: list[str], env: dict[str, str] | None = None, cwd=None) -> None:
        with open(self.log, "ab") as log:
            if not self._cancelled:
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             cwd=cwd or self.dir, env=env, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while self.proc and (left := deadline - time.monotonic()) > 0 and not self._cancelled:
            if self.proc.poll() is not None:
                raise self._fail(f"java exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError, ValueError):
                if self._ready(timeout=min(2.0, max(left, 0.1))):
                    return
            time.sleep(0.25)
        raise self._fail("start cancelled" if self._cancelled else f"not ready in {self.timeout}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=self.stop_timeout)
        self.proc.kill()  # no-op if it already exited
        self.proc.wait()


class PuppetServer(_Jvm):
    """Debian's puppetserver on `port` (HTTPS, 127.0.0.1), every file in its lab directory:
    conf/ (confdir: puppet.conf, routes.yaml, puppetdb.conf, autosign.conf), code/ (codedir:
    environments/production/...), var/, ssl/, ca/ (its own CA, made by `puppetserver ca
    setup` on first start), tk/ (the service's own settings). lab/puppet/ holds the templates.

    Nodes are classified by `enc` (default: this virtualenv's orbiter-enc), which reads its
    settings from `enc_config` (ORBITER_ENC_CONFIG in the server's environment): write that
    file (`point_enc()`) to aim the ENC at a control plane; it is read on every run. Facts,
    catalogs and reports go to the PuppetDB at `puppetdb_url` (its HTTPS URL)."""

    name, env_var = "puppetserver", "ORBITER_PUPPETSERVER_URL"
    apt_package = "puppetserver puppet-terminus-puppetdb puppet-agent"
    url_format = "https://127.0.0.1:{port}"
    binaries = ("java", "puppet", "puppetserver")
    JAR = Path("/usr/share/puppetserver/puppetserver.jar")
    JRUBY_LIB = Path("/usr/share/jruby/lib")
    CERTNAME = "puppet"  # the server's own certificate, also valid for 127.0.0.1 and localhost

    def __init__(self, lab_dir, port: int | None = None, timeout: float | None = None, *,
                 puppetdb_url: str = "", enc: str | os.PathLike | None = None,
                 jruby_instances: int = 1, heap: str = "768m"):
        super().__init__(lab_dir, port, timeout)
        self.puppetdb_url, self.jruby_instances, self.heap = puppetdb_url, jruby_instances, heap
        self.enc = Path(enc) if enc else self.default_enc()
        self.confdir, self.codedir, self.vardir = self.dir / "conf", self.dir / "code", self.dir / "var"
        self.ssldir, self.cadir, self.tkdir = self.dir / "ssl", self.dir / "ca", self.dir / "tk"
        self.puppet_conf, self.autosign = self.confdir / "puppet.conf", self.confdir / "autosign.conf"
        self.enc_config = self.dir / "enc.toml"
        self.ca_file = self.cadir / "ca_crt.pem"  # the CA chain (intermediate, root)
        self.environment = self.codedir / "environments" / "production"

    @classmethod
    def installed(cls) -> bool:
        return super().installed() and cls.JAR.is_file()

    @staticmethod
    def default_enc() -> Path:
        beside = Path(sys.executable).parent / "orbiter-enc"
        return beside if beside.exists() else Path(shutil.which("orbiter-enc") or beside)

    def configure(self) -> None:
        """Write the config files and make the CA (once): enough for `issue_cert`, before or
        without a start."""
        if self.ca_file.is_file():
            return
        for d in (self.confdir, self.environment / "manifests", self.environment / "modules",
                  self.vardir, self.ssldir, self.tkdir, self.dir / "log", self.dir / "run"):
            d.mkdir(parents=True, exist_ok=True)
        if not self.puppetdb_url:
            raise self._fail("puppetdb_url is required (the lab PuppetDB's HTTPS URL)")
        paths = dict(confdir=self.confdir, codedir=self.codedir, vardir=self.vardir, ssldir=self.ssldir,
                     logdir=self.dir / "log", rundir=self.dir / "run", cadir=self.cadir)
        self.puppet_conf.write_text(_template("puppet.conf", **paths, certname=self.CERTNAME,
                                              port=self.port, external_nodes=self.enc))
        (self.confdir / "routes.yaml").write_text((PUPPET_TEMPLATES / "routes.yaml").read_text())
        (self.confdir / "puppetdb.conf").write_text(_template("puppetdb.conf", puppetdb_url=self.puppetdb_url))
        self.autosign.touch()
        (self.environment / "manifests" / "site.pp").write_text("# the classes come from the ENC\n")
        service_conf = (PUPPET_TEMPLATES / "puppetserver.conf").read_text()
        for key, value in {**paths, "tkdir": self.tkdir, "port": self.port,
                           "jruby_instances": self.jruby_instances}.items():
            service_conf = service_conf.replace(f"@{key}@", str(value))
        (self.tkdir / "puppetserver.conf").write_text(service_conf)
        for source, target in (("server-auth.conf", "auth.conf"), ("server-bootstrap.cfg", "bootstrap.cfg"),
                               ("logback.xml", "logback.xml")):
            shutil.copyfile(PUPPET_TEMPLATES / source, self.tkdir / target)
        self._run(["puppetserver", "ca", "setup", "--config", str(self.puppet_conf)], "puppetserver ca setup")

    def issue_cert(self, certname: str, directory) -> tuple[Path, Path]:
        """A certificate for `certname` (also valid for 127.0.0.1 and localhost) signed offline
        with the CA's key, and its key: (cert, key) in `directory`. For services the lab
        starts alongside the server (PuppetDB) and for clients of PuppetDB (a HostSource).
        Nodes get theirs from the running CA instead (lab/puppetlab.py)."""
        if not CERTNAME_RE.fullmatch(certname):
            raise ValueError(f"certname {certname!r}: lowercase letters, digits, '.', '-' and '_' only")
        self.configure()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cert, key, csr = (directory / f"{certname}.{ext}" for ext in ("cert.pem", "key.pem", "csr.pem"))
        ext = directory / f"{certname}.ext"
        ext.write_text(f"subjectAltName = DNS:{certname}, DNS:localhost, IP:127.0.0.1\n"
                       "basicConstraints = critical, CA:FALSE\n"
                       "keyUsage = critical, digitalSignature, keyEncipherment\n"
                       "extendedKeyUsage = serverAuth, clientAuth\n")
        self._run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                   "-subj", f"/CN={certname}", "-out", str(csr)], f"openssl req for {certname}")
        self._run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca_file),
                   "-CAkey", str(self.cadir / "ca_key.pem"), "-set_serial", f"0x{secrets.token_hex(16)}",
                   "-days", "30", "-sha256", "-extfile", str(ext), "-out", str(cert)],
                  f"signing {certname}'s certificate")
        csr.unlink()
        ext.unlink()
        return cert, key

    def point_enc(self, url: str, token: str) -> None:
        """Aim orbiter-enc (as the server runs it) at a control plane with this token."""
        token_file = self.dir / "enc.token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        self.enc_config.write_text(f"url = {json.dumps(url)}\ntoken_file = {json.dumps(str(token_file))}\n"
                                   "patience_s = 10\n")

    def _ready(self, timeout: float) -> bool:
        return _https_get(f"{self.url}/status/v1/simple", self.ca_file, timeout) == b"running"

    def start(self) -> None:
        self.configure()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITER_ENC_")}
        env["ORBITER_ENC_CONFIG"] = str(self.enc_config)  # orbiter-enc's settings: point_enc()
        args = ["java", "-Xms256m", f"-Xmx{self.heap}", *self.JAVA_OPTS,
                f"-Djava.io.tmpdir={self.dir / 'run'}", f"-Djruby.lib={self.JRUBY_LIB}",
                "-Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger",
                "-jar", str(self.JAR), "--config", str(self.tkdir),  # every *.conf in it
                "--bootstrap-config", str(self.tkdir / "bootstrap.cfg")]
        self._launch(args, env=env, cwd=self.JAR.parent)


class PuppetDB(_Jvm):
    """Debian's PuppetDB: HTTP on `port`, HTTPS on `ssl_port` (127.0.0.1) with `cert_file`/
    `key_file` issued by the lab server's CA (`ca_file`); its data in a new database of the
    PostgreSQL at `database_url` (a superuser's URL, default ORBITER_DATABASE_URL), owned by
    a role of its own, with a read-only role for queries. Dropped again on stop()."""

    name, env_var, apt_package = "puppetdb", "ORBITER_PUPPETDB_URL", "puppetdb"
    url_format = "http://127.0.0.1:{port}"
    JAR = Path("/usr/share/puppetdb/puppetdb.jar")

    def __init__(self, lab_dir, port: int | None = None, timeout: float | None = None, *,
                 ssl_port: int | None = None, database_url: str = "", ca_file="", cert_file="",
                 key_file="", heap: str = "512m"):
        super().__init__(lab_dir, port, timeout)
        self.ssl_port, self.heap = ssl_port or free_port(), heap
        self.database_url = database_url or os.environ.get("ORBITER_DATABASE_URL", "")
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        suffix = secrets.token_hex(4)
        self.database, self.role, self.read_role = (f"puppetdb_{suffix}", f"puppetdb_{suffix}",
                                                    f"puppetdb_{suffix}_read")
        self._created = False

    @property
    def ssl_url(self) -> str:
        return f"https://127.0.0.1:{self.ssl_port}"

    @classmethod
    def installed(cls) -> bool:
        return super().installed() and cls.JAR.is_file()

    def env(self) -> dict[str, str]:
        return {self.env_var: self.url, "ORBITER_PUPPETDB_SSL_URL": self.ssl_url}

    def _psql(self, *statements: str, database: str = "postgres") -> None:
        url = urllib.parse.urlsplit(self.database_url)
        args = [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", url.hostname or "127.0.0.1",
                "-p", str(url.port or 5432), "-U", url.username or "postgres", "-d", database]
        self._run([*args, *(a for s in statements for a in ("-c", s))], f"psql on {database}")

    def _create_database(self) -> None:
        if not self.database_url.startswith(("postgresql://", "postgres://")):
            raise self._fail(f"database_url: a postgresql:// URL is required, got {self.database_url!r}")
        self._psql(f"CREATE ROLE {self.role} LOGIN", f"CREATE ROLE {self.read_role} LOGIN",
                   f"CREATE DATABASE {self.database} OWNER {self.role}")
        self._created = True
        self._psql("CREATE EXTENSION pg_trgm", "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                   f"GRANT CONNECT ON DATABASE {self.database} TO {self.read_role}",
                   f"ALTER DEFAULT PRIVILEGES FOR ROLE {self.role} IN SCHEMA public "
                   f"GRANT SELECT ON TABLES TO {self.read_role}",
                   f"GRANT USAGE ON SCHEMA public TO {self.read_role}", database=self.database)

    def _ready(self, timeout: float) -> bool:
        with urllib.request.urlopen(f"{self.url}/status/v1/services/puppetdb-status",  # noqa: S310
                                    timeout=timeout) as response:
            return json.load(response).get("state") == "running"

    def start(self) -> None:
        for path in (self.ca_file, self.cert_file, self.key_file):
            if not Path(path or "/nonexistent").is_file():
                raise self._fail(f"ca_file, cert_file and key_file must be files, got {path!r}")
        conf = self.dir / "conf"
        for d in (conf, self.dir / "var", self.dir / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        self._create_database()
        url = urllib.parse.urlsplit(self.database_url)
        (conf / "puppetdb.ini").write_text(_template(
            "puppetdb.ini", vardir=self.dir / "var", logging_config=conf / "logback.xml",
            db_host=url.hostname or "127.0.0.1", db_port=url.port or 5432, db_name=self.database,
            db_user=self.role, db_read_user=self.read_role, port=self.port, ssl_port=self.ssl_port,
            cert_file=self.cert_file, key_file=self.key_file, ca_file=self.ca_file))
        for source, target in (("puppetdb-auth.conf", "auth.conf"), ("logback.xml", "logback.xml")):
            shutil.copyfile(PUPPET_TEMPLATES / source, conf / target)
        shutil.copyfile(PUPPET_TEMPLATES / "puppetdb-bootstrap.cfg", self.dir / "bootstrap.cfg")
        self._launch(["java", f"-Xmx{self.heap}", *self.JAVA_OPTS, f"-Djava.io.tmpdir={self.dir / 'tmp'}",
                      "-cp", str(self.JAR), "clojure.main", "-m", "puppetlabs.puppetdb.core", "services",
                      "--config", str(conf), "--bootstrap-config", str(self.dir / "bootstrap.cfg")])

    def stop(self) -> None:
        super().stop()
        if self._created:  # the lab's PostgreSQL may outlive this service (a test session's)
            self._created = False
            with contextlib.suppress(RuntimeError, OSError):
                self._psql(f"DROP DATABASE IF EXISTS {self.database}",
                           f"DROP ROLE IF EXISTS {self.read_role}", f"DROP ROLE IF EXISTS {self.role}")


class Tool(Service):
    """A tool, not a service: installed by `ensure-installed`, run by the tests themselves."""

    def start(self) -> None:
        raise RuntimeError(f"{self.name} is installed, not started: tests run it themselves")

    def stop(self) -> None:
        pass


class Puppet(Tool):
    name, env_var, apt_package, binaries = "puppet", "", "puppet-agent", ("puppet",)


class Rpm(Tool):
    """rpmbuild: tests build real RPMs."""

    name, env_var, apt_package, binaries = "rpm", "", "rpm", ("rpm", "rpmbuild")


class Createrepo(Tool):
    """createrepo_c: tests publish those RPMs in real yum repositories."""

    name, env_var, apt_package, binaries = "createrepo", "", "createrepo-c", ("createrepo_c",)


class Chromium(Tool):
    """Debian's Chromium (and its driver): the browser tests drive it headless."""

    name, env_var, apt_package, binaries = "chromium", "", "chromium", ("chromium",)


SERVICES: dict[str, type[Service]] = {"postgres": Postgres, "redis": Redis, "activemq": ActiveMQ,
                                      "haproxy": HAProxy, "puppet": Puppet, "rpm": Rpm,
                                      "createrepo": Createrepo, "chromium": Chromium,
                                      "puppetserver": PuppetServer, "puppetdb": PuppetDB}
DEFAULT_SERVICES = ("postgres", "redis")  # `run`, `ensure-installed` and running() without names
_EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # become SystemExit; SIGINT: KeyboardInterrupt


def _in_threads(methods) -> list:
    """Run bound methods in parallel threads until all return; return the exceptions raised.
    If interrupted by a signal, cancel their services but still wait, so stop() never races
    start().  (Events, not Thread.join: in 3.11 an interrupted join can mark a live thread dead.)"""
    errors: list = []
    done = [threading.Event() for _ in methods]

    def call(method, event):
        try:
            method()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            errors.append(e)
        finally:
            event.set()
    for method, event in zip(methods, done, strict=True):
        threading.Thread(target=call, args=(method, event), daemon=True).start()
    try:
        for event in done:
            event.wait()
    except BaseException:
        for method in methods:
            method.__self__.cancel()
        for event in done:
            event.wait()
        raise
    return errors


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def started(*services: Service):
    """Start these Service objects in parallel; yield them (as a tuple); stop all on exit,
    exception, SIGTERM, SIGHUP or Ctrl-C (the handlers are installed from the main thread only)."""
    main = threading.current_thread() is threading.main_thread()
    old = {sig: signal.getsignal(sig) for sig in (*_EXIT_SIGNALS, signal.SIGINT)} if main else {}
    try:
        for sig in _EXIT_SIGNALS if main else ():
            signal.signal(sig, _raise_exit)
        if errors := _in_threads([s.start for s in services]):
            raise errors[0]
        yield services
    finally:
        for sig in old:  # a second Ctrl-C/SIGTERM must not abort the cleanup; restored below
            signal.signal(sig, signal.SIG_IGN)
        try:
            for e in _in_threads([s.stop for s in services]):
                print(f"services.py: stop failed: {e}", file=sys.stderr)
        finally:
            for sig, handler in old.items():
                signal.signal(sig, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def running(*names: str, lab_dir=None):
    """Start the named services (default: DEFAULT_SERVICES) in parallel; yield their env vars;
    stop all on exit.  A temp lab dir is created (and removed afterwards) unless lab_dir is given."""
    if unknown := [n for n in names if n not in SERVICES]:
        raise ValueError(f"unknown services {unknown}; known: {sorted(SERVICES)}")
    lab = Path(lab_dir or tempfile.mkdtemp(prefix="orbiter-lab-"))
    lab.mkdir(parents=True, exist_ok=True)
    try:
        with started(*(SERVICES[n](lab) for n in names or DEFAULT_SERVICES)) as services:
            yield {k: v for s in services for k, v in s.env().items()}
    finally:
        if lab_dir is None:
            shutil.rmtree(lab, ignore_errors=True)


def ensure_installed(names) -> None:
    """apt-get install what is missing (one dpkg-query and no apt call when all is present)."""
    svcs = [SERVICES[n] for n in names]
    r = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\n",
                        *(p for s in svcs for p in s.apt_package.split())], capture_output=True, text=True)
    ok = {ln.split()[0] for ln in r.stdout.splitlines() if ln.endswith(" install ok installed")}
    missing = [p for s in svcs if not (s.installed() and set(s.apt_package.split()) <= ok)
               for p in s.apt_package.split()]  # apt_package: one or more, space-separated
    for s in svcs:
        print(f"{s.name}: {'missing' if set(s.apt_package.split()) & set(missing) else 'ok'} ({s.apt_package})")
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]  # another apt running: wait for its lock, don't fight
    for args in [["apt-get", *lock, "update"], ["apt-get", *lock, "install", "-y", *missing]]:
        for attempt in range(1, 6):
            print(f"running: {shlex.join(args)}", flush=True)
            if subprocess.run(args, env=env).returncode == 0:
                break
            print(f"failed (attempt {attempt}/5), retrying in 10s", flush=True)
            time.sleep(10)
        else:
            sys.exit(f"services.py: giving up: {shlex.join(args)}")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    argv, cmd = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(prog="services.py", description=__doc__.split("\n")[0])
    p.add_argument("action", choices=["run", "ensure-installed"])
    p.add_argument("--services", default=",".join(DEFAULT_SERVICES),
                   help=f"comma-separated, from {','.join(SERVICES)}; default: %(default)s")
    a = p.parse_args(argv)
    names = [n.strip() for n in a.services.split(",") if n.strip()]
    if unknown := [n for n in names if n not in SERVICES]:
        p.error(f"unknown services {unknown}; known: {','.join(SERVICES)}")
    if a.action == "ensure-installed":
        return ensure_installed(names) or 0
    if not cmd:
        p.error("usage: run [--services ...] -- CMD ARGS...")
    try:
        with running(*names) as env:
            proc = subprocess.Popen(cmd, env={**os.environ, **env})
            try:
                rc = proc.wait()
                return 128 - rc if rc < 0 else rc  # CMD killed by signal N: 128+N like a shell
            finally:
                if proc.poll() is None:  # we were interrupted: take CMD down before the services
                    proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=10)
                    proc.kill()
                    proc.wait()
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except RuntimeError as e:  # a service failed to start
        print(f"services.py: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"services.py: command not found: {e.filename}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
