"""The reply listener under a flood of junk: genuine replies recorded per second while junk
frames from senders with no key arrive on the same queue.

    python bench/listener_flood.py                          # 2,000 hosts, 5,000 junk frames
    python bench/listener_flood.py --junk 0                 # the baseline: genuine only
    python bench/listener_flood.py --junk-sender enrolled   # junk under real certnames

Starts PostgreSQL and ActiveMQ on free loopback ports, enrolls `--hosts` hosts (keys in the
database, as `orbiter agents` leaves them), loads the replies queue with one signed facts
report per host and `--junk` junk frames spread evenly between them (random 64-byte
signatures; `--junk-sender unknown`: certnames no host has, the finding's flood;
`enrolled`: real certnames, which the listener also copies to the dead-letter queue), then
starts one `orbiter listen` and polls the database until every report is recorded.

Reports are recorded the way replies are (verified under the senders' row locks, checked
against the result schema, written in one transaction per batch). The rate is taken from
the first report recorded to the last, so the listener's start-up is left out. The last
line is JSON: hosts, junk, recorded_per_s (genuine), frames_per_s (genuine + junk), drain_s.
"""

import argparse
import base64
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.processes import Process  # noqa: E402
from lab.services import running  # noqa: E402


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def enroll(hosts: int) -> dict:
    """`hosts` hosts with trusted keys; returns {certname: private key}."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.core.management import call_command

    from orbiter.catalog import services as catalog
    from orbiter.catalog.models import Host
    from orbiter_agent.keys import public_key_b64

    call_command("migrate", verbosity=0)
    env = catalog.environment_create(name="cert", order=0, actor="bench")
    keys = {f"web-{i:05d}.example.test": Ed25519PrivateKey.generate() for i in range(hosts)}
    Host.objects.bulk_create([Host(certname=c, environment=env, agent_public_key=public_key_b64(k.public_key()))
                              for c, k in keys.items()])
    return keys


def frames(keys: dict, junk: int, junk_sender: str) -> list[bytes]:
    """One signed report per host, `junk` junk frames spread evenly among them."""
    from orbiter_agent import protocol

    now = time.time()
    genuine = [protocol.encode(protocol.sign(protocol.make_report(
        {"ok": True, "packages": {"shop-api": "1.0.0-1", "puppet-agent": "7.23.0-1"}, "last_run": None},
        sender=c, now=now), k)) for c, k in keys.items()]
    names = list(keys)
    out = []
    for n, body in enumerate(genuine):
        for _ in range((n + 1) * junk // len(genuine) - n * junk // len(genuine)):
            sender = f"junk-{uuid.uuid4().hex[:12]}.example.test" if junk_sender == "unknown" else names[n]
            out.append(json.dumps({
                "version": 1, "id": str(uuid.uuid4()), "kind": "report", "action": "facts", "sender": sender,
                "issued_at": now, "expires_at": now + 600, "result": {"ok": True, "packages": {"x": "1"}},
                "signature": base64.b64encode(os.urandom(64)).decode()}).encode())
        out.append(body)
    return out


def load(port: int, bodies: list[bytes]) -> None:
    import stomp

    from orbiter.bus.base import REPLIES

    conn = stomp.Connection12([("127.0.0.1", port)], auto_decode=False)
    # The lab broker refuses anonymous logins: load as the control plane (any host's login
    # may write the replies queue too; the frames' sender field is what the listener reads).
    conn.connect(os.environ["ORBITER_STOMP_USER"], os.environ["ORBITER_STOMP_PASSWORD"], wait=True)
    for body in bodies[:-1]:
        conn.send(REPLIES, body, headers={"persistent": "true"})
    conn.send(REPLIES, bodies[-1], headers={"persistent": "true", "receipt": "last"})  # all stored
    receipt = {}

    class Done(stomp.ConnectionListener):
        def on_receipt(self, frame):
            receipt["ok"] = True

    conn.set_listener("done", Done())
    deadline = time.monotonic() + 300
    while "ok" not in receipt and time.monotonic() < deadline:
        time.sleep(0.05)
    conn.disconnect()


def recorded() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_host WHERE facts ? 'reported_at'")
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=2000, help="enrolled hosts, one report each (default 2000)")
    parser.add_argument("--junk", type=int, default=5000, help="junk frames (default 5000)")
    parser.add_argument("--junk-sender", choices=["unknown", "enrolled"], default="unknown")
    args = parser.parse_args()

    with running("postgres", "activemq") as services:
        os.environ.update({**services, "ORBITER_MODE": "server", "ORBITER_SECRET_KEY": "bench-only-secret",
                           "ORBITER_BROKER_URL": "memory://", "ORBITER_BUS_URL": services["ORBITER_STOMP_URL"],
                           "ORBITER_LOG_LEVEL": os.environ.get("ORBITER_LOG_LEVEL", "WARNING"),
                           "DJANGO_SETTINGS_MODULE": "orbiter.settings"})
        import django

        django.setup()
        keys = enroll(args.hosts)
        bodies = frames(keys, args.junk, args.junk_sender)
        progress(f"{args.hosts} hosts enrolled; loading {len(bodies)} frames ({args.junk} junk)")
        load(int(services["ORBITER_STOMP_URL"].rsplit(":", 1)[1]), bodies)
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"listener-flood-{os.getpid()}.log"
        listener = Process(["listen"], {}, log)
        try:
            first = last = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                count = recorded()
                now = time.monotonic()
                if count and first is None:
                    first = (now, count)
                if count >= args.hosts:
                    last = (now, count)
                    break
                if listener.popen.poll() is not None:
                    raise SystemExit(f"the listener exited:\n{listener.tail()}")
                time.sleep(0.02)
            if last is None:
                raise SystemExit(f"only {recorded()} of {args.hosts} recorded in 600 s:\n{listener.tail()}")
            alive = listener.popen.poll() is None
        finally:
            listener.stop()
    drain = last[0] - first[0]
    genuine = last[1] - first[1]
    share = genuine / args.hosts
    result = {"hosts": args.hosts, "junk": args.junk, "junk_sender": args.junk_sender,
              "drain_s": round(drain, 2), "recorded_per_s": round(genuine / drain, 1) if drain else None,
              "frames_per_s": round((genuine + args.junk * share) / drain, 1) if drain else None,
              "listener_survived": alive}
    progress(f"{genuine} reports in {drain:.2f}s after the first, with {args.junk} junk frames among them")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
