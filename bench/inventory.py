"""Host source sync at fleet size: N nodes in PuppetDB, the first sync (N hosts created,
pinned, in a pool) and a re-sync with nothing changed, timed, with their SQL statements
counted.

    python bench/inventory.py --nodes 10000                       # the lab's PuppetDB (lab/puppetlab.py), read over HTTPS
    python bench/inventory.py --nodes 10000 --puppetdb-url http://127.0.0.1:8080   # one already running
    python bench/inventory.py --nodes 10000 --memory              # no PuppetDB: the database side alone

The nodes are generated through PuppetDB's command API (`replace facts`, POST
/pdb/cmd/v1), then the benchmark waits (polling, with a deadline) until PuppetDB stores
them all. Starts PostgreSQL on a free loopback port (and PuppetDB, unless given a URL).
Targets: first sync <= 30 s, re-sync <= 5 s. `apply_diff_s` is `orbiter apply --diff` of
a 500-application file, measured by bench/fleet_apply.py when that module is present
(null otherwise). The last line is JSON: nodes, first_sync_s, resync_s, apply_diff_s and
details (queries per sync, PuppetDB queries, where the nodes came from).
"""

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.services import running  # noqa: E402

TARGET_FIRST_S, TARGET_RESYNC_S = 30.0, 5.0
STORE_DEADLINE_S = 900.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--puppetdb-url", help="a running PuppetDB's plain-HTTP URL (default: start the lab's)")
    parser.add_argument("--memory", action="store_true", help="no PuppetDB: nodes held in memory")
    args = parser.parse_args()

    with running("postgres") as services, tempfile.TemporaryDirectory(prefix="orbiter-bench-") as lab_dir:
        os.environ.update({**services, "ORBITER_MODE": "server", "ORBITER_SECRET_KEY": "bench-only-secret",
                           "ORBITER_BROKER_URL": "memory://",
                           "ORBITER_LOG_LEVEL": os.environ.get("ORBITER_LOG_LEVEL", "WARNING"),
                           "DJANGO_SETTINGS_MODULE": "orbiter.settings"})
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        with contextlib.ExitStack() as stack:
            tls = {}
            if args.memory:
                url = ""
            elif args.puppetdb_url:
                url = args.puppetdb_url
            else:  # the lab's PuppetDB, in this PostgreSQL; the sync reads it over HTTPS
                from lab.puppetlab import PuppetLab

                lab = stack.enter_context(contextlib.closing(
                    PuppetLab(lab_dir, database_url=services["ORBITER_DATABASE_URL"])))
                url = lab.puppetdb_url
                cert, key = lab.client_cert()
                tls = {"url": lab.puppetdb_ssl_url, "ca_file": str(lab.ca_file), "cert_file": str(cert),
                       "key_file": str(key)}
                print(f"PuppetDB started in {lab.startup_s}", file=sys.stderr)
            result = measure(args.nodes, url=url, memory=args.memory, tls=tls)
            result["apply_diff_s"] = apply_diff_s()
    print(json.dumps(result))


def measure(count: int, *, url: str, memory: bool, tls: dict) -> dict:
    """`url`: PuppetDB's plain HTTP API (the nodes are fed there); `tls`: how the source reads
    it (url, ca_file, cert_file, key_file), else the same plain URL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orbiter.catalog.models import Host
    from orbiter.inventory import sync

    source = build(tls or {"url": url or "http://127.0.0.1:9"})
    names = [f"node-{i:05d}.bench.example.test" for i in range(count)]
    fed_s = None
    if memory:
        from orbiter.inventory.puppetdb import MemoryNodeSource, Node

        nodes = MemoryNodeSource(Node(certname=name, facts=facts_of(i)) for i, name in enumerate(names))
        sync.connect = lambda _source: nodes
    else:
        started = time.monotonic()
        feed(url, names)
        fed_s = round(time.monotonic() - started, 1)
        clients = []
        real_connect = sync.connect
        sync.connect = lambda found: clients.append(real_connect(found)) or clients[-1]

    timings, queries = [], []
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            started = time.monotonic()
            diff = sync.source_sync(source, actor="bench")
            timings.append(round(time.monotonic() - started, 2))
        queries.append(len(captured))
        print(f"sync: {timings[-1]} s, {len(captured)} SQL statements, {diff.counts}", file=sys.stderr)
    hosts = Host.objects.filter(source=source, retired_at__isnull=True).count()
    if hosts != count:
        raise SystemExit(f"bench/inventory.py: {hosts} hosts after the sync, expected {count}")
    first, again = timings
    return {
        "nodes": count, "first_sync_s": first, "resync_s": again,
        "details": {
            "nodes_from": "memory" if memory else f"PuppetDB, fed by replace facts, read at {source.url}",
            "feed_and_store_s": fed_s,
            "sql_statements": {"first_sync": queries[0], "resync": queries[1]},
            "puppetdb_queries": None if memory else [client.queries for client in clients],
            "targets": {"first_sync_s": TARGET_FIRST_S, "resync_s": TARGET_RESYNC_S,
                        "met": first <= TARGET_FIRST_S and again <= TARGET_RESYNC_S},
        },
    }


def build(where: dict):
    """shop-api in production, 1.0.0-1 running on a host listed by hand, a pool, and the source."""
    from orbiter.catalog import services as catalog
    from orbiter.catalog.models import Pin
    from orbiter.inventory.services import hostsource_create
    from orbiter.loadbalancers.models import Pool

    app = catalog.application_create(name="shop-api", package="shop-api", actor="bench")
    env = catalog.environment_create(name="production", order=0, actor="bench")
    artifact = catalog.artifact_register(application=app, nevra="shop-api-1.0.0-1.noarch", actor="bench")
    Pool.objects.create(name="shop-prod", application=app, environment=env, member_template="{hostname}")
    manual = catalog.host_create(certname="manual.bench.example.test", environment=env, applications=[app],
                                 actor="bench")
    Pin.objects.create(host=manual, application=app, artifact=artifact)
    return hostsource_create(
        name="prod", environment=env, actor="bench", **where,
        query="nodes[certname] { facts { name = 'orbiter_env' and value = 'production' } }",
        facts=["os.family", "ipaddress"], labels={"datacenter": "dc"},
        applications=[{"application": "shop-api", "fact": "role", "value": "shop"}])


def facts_of(i: int) -> dict:
    return {"orbiter_env": "production", "role": "shop", "dc": f"dc{i % 3}", "ipaddress": f"10.{i // 65536}."
            f"{i // 256 % 256}.{i % 256}", "os": {"family": "RedHat", "release": {"major": "9"}}}


def feed(url: str, names: list[str]) -> None:
    """`replace facts` (version 5) for each node, then wait until PuppetDB stores them all."""
    now = datetime.now(UTC).isoformat()
    with requests.Session() as http:
        for i, name in enumerate(names):
            body = {"certname": name, "environment": "production", "producer_timestamp": now,
                    "producer": "bench", "values": facts_of(i)}
            response = http.post(f"{url}/pdb/cmd/v1", params={"command": "replace_facts", "version": 5,
                                                              "certname": name, "producer-timestamp": now},
                                 json=body, timeout=30, headers={"X-Request-Id": str(uuid.uuid4())})
            response.raise_for_status()
        deadline = time.monotonic() + STORE_DEADLINE_S
        while True:
            stored = http.post(f"{url}/pdb/query/v4", json={"query": "nodes[count()] { }"}, timeout=30).json()
            if stored and stored[0]["count"] >= len(names):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"bench/inventory.py: PuppetDB stored {stored} of {len(names)} nodes "
                                 f"within {STORE_DEADLINE_S:g} s")
            time.sleep(1)  # PuppetDB's command queue drains on its own; polled with a deadline


def apply_diff_s():
    """`orbiter apply --diff` of a 500-application file, from bench/fleet_apply.py if present."""
    path = ROOT / "bench" / "fleet_apply.py"
    if not path.exists():
        print("apply_diff_s: bench/fleet_apply.py is not on this branch; left null", file=sys.stderr)
        return None
    spec = importlib.util.spec_from_file_location("fleet_apply", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.measure_apply_diff()


if __name__ == "__main__":
    main()
