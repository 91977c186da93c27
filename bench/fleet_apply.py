"""`orbiter apply --diff` of a large catalog file: how long the diff takes and how many SQL
queries it makes (the catalog is read once per kind, never per object).

    python bench/fleet_apply.py                 # 500 applications
    python bench/fleet_apply.py --apps 2000

Starts PostgreSQL on a free loopback port and migrates it, then `measure()` builds a fleet
file of N applications, each with a pool and a host in staging and in production (so
5N objects), and times, in this process, through the same function `orbiter apply` calls:

- `apply_diff_first_s`: `--diff` against an empty catalog (every object a create; the dry
  run writes them through the services and rolls back);
- `apply_s`: the real apply of the same file;
- `apply_diff_s` (the target, ≤ 5 s for 500 applications): `--diff` after 5% of the
  applications changed their rollout defaults, with `apply_diff_queries`;
- `apply_diff_noop_s`: `--diff` of the file as applied (nothing to change), with its queries.

`measure()` leaves the database as it found it (all in one transaction, rolled back), so
other benchmarks (bench/inventory.py) can call it on their own database. The last line is JSON.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 5.0


def fleet_text(n_apps: int, *, changed: int = 0) -> str:
    """The fleet file: two environments, N applications, a pool and a host of each in each
    environment; the first `changed` applications with other rollout defaults."""
    lines = ["environments:", "  - {name: bench-staging, order: 1}",
             "  - {name: bench-production, order: 2, requires_approval: true, min_approvals: 2, freezes: "
             "[{days: [fri], start: '18:00', end: '08:00', timezone: Europe/Paris, reason: weekend}]}",
             "applications:"]
    for i in range(n_apps):
        batch = "50%" if i < changed else "25%"
        lines += [f"  - name: bench-app-{i:04d}", f"    package: bench-app-{i:04d}",
                  f"    description: application {i} of the benchmark",
                  "    converge: {driver: simulated, options: {duration_s: 0.1}}",
                  "    health: {driver: http, options: {url: 'http://{certname}:8080/health'}}",
                  f"    rollout: {{batch_size: '{batch}', canary: true, failure_budget: 1, converge_timeout_s: 600}}"]
    lines.append("hosts:")
    for i in range(n_apps):
        for env in ("staging", "production"):
            lines.append(f"  - {{name: app-{i:04d}-{env}.example.com, environment: bench-{env}, "
                         f"applications: [bench-app-{i:04d}], labels: {{rack: r{i % 20}}}}}")
    lines.append("pools:")
    for i in range(n_apps):
        for env in ("staging", "production"):
            lines.append(f"  - {{name: bench-app-{i:04d}-{env}, application: bench-app-{i:04d}, "
                         f"environment: bench-{env}, max_unavailable: '1', "
                         f"members: {{app-{i:04d}-{env}.example.com: app-{i:04d}-{env}}}}}")
    return "\n".join(lines) + "\n"


def measure(n_apps: int = 500) -> dict:
    """Needs Django set up on a migrated database; leaves it as it was."""
    from django.db import connection, transaction

    from orbiter.fleet import documents
    from orbiter.fleet.apply import fleet_apply

    def run(text: str, *, dry_run: bool) -> tuple[float, int, dict]:
        queries = []

        def count(execute, sql, params, many, context):
            queries.append(1)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            started = time.perf_counter()
            found = documents.parse_text(text, "bench.yaml")
            outcome = fleet_apply(documents=found, actor="bench", dry_run=dry_run)
            elapsed = time.perf_counter() - started
        return elapsed, len(queries), outcome.as_dict()["summary"]

    text = fleet_text(n_apps)
    changed = max(1, n_apps // 20)
    result = {"apps": n_apps, "objects": 5 * n_apps + 2, "file_bytes": len(text.encode())}
    started = time.perf_counter()
    documents.parse_text(text, "bench.yaml")
    result["parse_s"] = round(time.perf_counter() - started, 3)
    with transaction.atomic():
        result["apply_diff_first_s"], result["apply_diff_first_queries"], _ = run(text, dry_run=True)
        result["apply_s"], result["apply_queries"], summary = run(text, dry_run=False)
        result["created"] = summary["create"]
        result["apply_diff_s"], result["apply_diff_queries"], summary = run(
            fleet_text(n_apps, changed=changed), dry_run=True)
        result["apply_diff_changes"] = summary["update"]
        result["apply_diff_noop_s"], result["apply_diff_noop_queries"], summary = run(text, dry_run=True)
        assert not any(summary.values()), summary
        transaction.set_rollback(True)
    for key in list(result):
        if key.endswith("_s"):
            result[key] = round(result[key], 3)
    result["target_s"] = TARGET_S
    result["within_target"] = result["apply_diff_s"] <= TARGET_S
    return result


def measure_apply_diff(n_apps: int = 500) -> float:
    """apply_diff_s alone (what bench/inventory.py records with its own figures)."""
    return measure(n_apps)["apply_diff_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=500, help="applications in the file (default 500)")
    args = parser.parse_args()

    from lab.services import running

    with running("postgres") as services:
        os.environ.update({**services, "ORBITER_MODE": "server", "ORBITER_SECRET_KEY": "bench-only-secret",
                           "ORBITER_BROKER_URL": "memory://",
                           "ORBITER_LOG_LEVEL": os.environ.get("ORBITER_LOG_LEVEL", "WARNING"),
                           "DJANGO_SETTINGS_MODULE": "orbiter.settings"})
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(json.dumps(measure(args.apps)), flush=True)


if __name__ == "__main__":
    main()
