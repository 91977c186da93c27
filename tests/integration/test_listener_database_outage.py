"""`orbiter listen` survives PostgreSQL going away: a restart under it, or being started while
the database is down. It holds what it received unacknowledged, retries with backoff, and
records it once the database is back. On a PostgreSQL of the test's own (the shared one
cannot be restarted), durable, so a restart keeps its data."""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
import stomp

from lab.processes import ORBITER, Process
from lab.services import PG_BIN, ActiveMQ, Postgres, started
from orbiter.bus.base import REPLIES
from orbiter_agent import protocol
from orbiter_agent.keys import generate_keypair, load_private_key, write_private_key
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration
CERTNAME = "web-01.example.test"


def restart(pg: Postgres) -> None:
    """Start the stopped server again on its data directory (Postgres.start would initdb)."""
    opts = ["-p", str(pg.port), "-c", "listen_addresses=127.0.0.1", "-k", str(pg.dir)]
    pg._run([str(PG_BIN / "pg_ctl"), "-D", str(pg.data), "-l", str(pg.log), "-w", "-t", "60",
             "-o", shlex.join(opts), "start"], "pg_ctl start", 70, **pg._as_pg)


@pytest.fixture
def services(tmp_path):
    if not ActiveMQ.installed():
        if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
            pytest.fail("ActiveMQ is required but not installed")
        pytest.skip("ActiveMQ not installed: run the suite with ./lab/test")
    if not (PG_BIN / "pg_ctl").exists():
        pytest.skip("PostgreSQL binaries not installed: run the suite with ./lab/test")
    lab = Path(tempfile.mkdtemp(prefix="orbiter-outage-"))  # the postgres user must reach it: not under
    try:  # pytest's tmp_path (mode 0700 when run as root)
        with started(Postgres(lab, durable=True), ActiveMQ(tmp_path / "amq")) as (pg, amq):
            yield pg, amq
    finally:
        shutil.rmtree(lab, ignore_errors=True)


@pytest.fixture
def enrolled(services, tmp_path):
    """The database migrated, one host enrolled; the environment for `orbiter listen`."""
    pg, amq = services
    env = {**os.environ, "ORBITER_MODE": "server", "ORBITER_SECRET_KEY": "outage-test",
           "ORBITER_DATABASE_URL": pg.url, **amq.env(), "ORBITER_BUS_URL": amq.url, "ORBITER_BROKER_URL": "memory://",
           "DJANGO_SETTINGS_MODULE": "orbiter.settings"}
    pem, public = generate_keypair()
    write_private_key(tmp_path / "agent.key", pem)
    setup = textwrap.dedent(f"""
        from orbiter.catalog import services as catalog
        from orbiter.catalog.agents import agent_enroll, enrollment_token_create
        env = catalog.environment_create(name="cert", order=0, actor="admin")
        catalog.host_create(certname="{CERTNAME}", environment=env, applications=[], actor="admin")
        agent_enroll(certname="{CERTNAME}", public_key="{public}",
                     token=enrollment_token_create(certname="{CERTNAME}", actor="admin"))
    """)
    for args in (["migrate", "-v", "0"], ["shell", "-c", setup]):
        done = subprocess.run([ORBITER, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    return pg, amq, env, load_private_key(tmp_path / "agent.key")


class Agent:
    """Sends the host's signed reports to the replies queue, as its agent does."""

    def __init__(self, amq, key):
        self.key = key
        self.conn = stomp.Connection12([("127.0.0.1", int(amq.url.rsplit(":", 1)[1]))], auto_decode=False)
        self.conn.connect(*amq.credentials(CERTNAME), wait=True)  # the host's own broker login

    def report(self, version: str) -> None:
        envelope = protocol.make_report({"ok": True, "packages": {"shop-api": version}}, sender=CERTNAME,
                                        now=time.time())
        self.conn.send(REPLIES, protocol.encode(protocol.sign(envelope, self.key)), headers={"persistent": "true"})


def recorded(pg) -> str | None:
    """The version the database holds for the host (None while it cannot be reached)."""
    try:
        with psycopg.connect(pg.url, connect_timeout=2) as conn:
            row = conn.execute("SELECT facts FROM catalog_host WHERE certname = %s", [CERTNAME]).fetchone()
    except psycopg.OperationalError:
        return None
    return ((row[0] or {}).get("packages") or {}).get("shop-api")


def test_the_listener_survives_a_postgresql_restart_and_records_what_came_meanwhile(enrolled, tmp_path):
    pg, amq, env, key = enrolled
    listener = Process(["listen"], env, tmp_path / "listener.log")
    agent = Agent(amq, key)
    try:
        listener.wait_for_log("listening for agent replies")
        agent.report("1.0")
        wait_for(lambda: recorded(pg) == "1.0", 30, "the first report")

        pg.stop()
        agent.report("2.0")  # arrives while the database is down
        wait_for(lambda: "database unavailable" in listener.log_path.read_text(), 30,
                 "the listener to notice\n" + listener.tail())
        restart(pg)

        wait_for(lambda: recorded(pg) == "2.0", 60, "the report held through the restart\n" + listener.tail())
        assert listener.popen.poll() is None, listener.tail()
        agent.report("3.0")
        wait_for(lambda: recorded(pg) == "3.0", 30, "a report after the restart")
    finally:
        listener.stop()
        agent.conn.disconnect()


def test_a_listener_started_while_postgresql_is_down_records_once_it_is_up(enrolled, tmp_path):
    pg, amq, env, key = enrolled
    pg.stop()
    listener = Process(["listen"], env, tmp_path / "listener.log")
    agent = Agent(amq, key)
    try:
        listener.wait_for_log("listening for agent replies")
        agent.report("4.0")
        wait_for(lambda: "database unavailable" in listener.log_path.read_text(), 30,
                 "the listener to try the database\n" + listener.tail())
        assert listener.popen.poll() is None, listener.tail()
        restart(pg)

        wait_for(lambda: recorded(pg) == "4.0", 60, "the report held until the database came\n" + listener.tail())
        assert listener.popen.poll() is None
    finally:
        listener.stop()
        agent.conn.disconnect()


def test_sigterm_while_holding_leaves_the_held_replies_on_the_broker(enrolled, tmp_path):
    """Stopped while the database is away, the listener acknowledges nothing: the next one
    records what it held."""
    pg, amq, env, key = enrolled
    pg.stop()
    first = Process(["listen"], env, tmp_path / "first.log")
    agent = Agent(amq, key)
    try:
        first.wait_for_log("listening for agent replies")
        agent.report("5.0")
        wait_for(lambda: "holding 1 replies" in first.log_path.read_text(), 30, "the first listener to hold it")
        first.stop()
        assert first.popen.returncode == 0, first.tail()
        restart(pg)
        second = Process(["listen"], env, tmp_path / "second.log")
        try:
            wait_for(lambda: recorded(pg) == "5.0", 60, "the second listener to record it\n" + second.tail())
        finally:
            second.stop()
    finally:
        agent.conn.disconnect()
        if sys.exc_info()[0] is not None:
            print(first.tail())
