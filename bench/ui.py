"""Web UI response times on a large history: millions of deployments in PostgreSQL.

    python bench/ui.py                         # 2,000,000 deployments, ~20,000,000 host rows
    python bench/ui.py --deployments 100000 --requests 50

Starts PostgreSQL on a free loopback port, migrates, and generates with set-based SQL
(INSERT … SELECT over generate_series, not the ORM) a fleet and its history:

- `--applications` applications (200) × 5 environments (cert, test, staging, and the
  protected preprod and production), 15 hosts per application and environment, each host
  running its application, pinned to the last version that succeeded there (a few hosts
  report another version: drift);
- `--deployments` finished deployments, one build after the other going through the five
  environments in order, 5 to 15 hosts each (10 on average, in batches of 5), 1 in 53
  failed and 1 in 97 cancelled, with their audit Events (request, accept or
  require_approval + approve, start, the end: 4-5 per deployment);
- one running deployment of 1,000 hosts (`storefront` in production, batches of 50):
  batches 1-7 done (5 hosts failed, with their Events), batch 8 in flight, the rest pending.

Secondary indexes and foreign keys of the big tables are dropped during the load and
rebuilt after it (then VACUUM ANALYZE), as a restore would; the schema measured is the
migrated one. Then it measures the real views in this process with Django's test client,
signed in as a deployer (a role in every environment): sessions, middleware, templates
included, no network. Each page gets `--warmup` untimed requests, then `--requests` timed
ones (varied: different applications, filters, keyset pages). Pages: `dashboard`,
`application`, `history` (/deployments/ with 8 filter combinations), `deployment` and `live`
(the running 1,000-host deployment's page and its live partial), and beyond the targets
`live_all_hosts` (?hosts=all), `finished_deployment` (old ones), `audit` (structured
filters) and `audit_search` (free text, 5 requests). The last line is JSON: `deployments`
(rows generated), `host_rows`, `events`, `generation_s` and its phases, `<page>_p95_ms`,
and per page under `pages`: p50, p95, max, this process's CPU time (p50), queries, KiB.

    python bench/ui.py --deployments 100000 --database-url postgresql://…  # keep the data:
    # generated only when the database has none; re-run to measure again after a change
"""

import argparse
import contextlib
import json
import math
import os
import sys
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.services import running  # noqa: E402

ENVIRONMENTS = (  # name, requires approval
    ("cert", False), ("test", False), ("staging", False), ("preprod", True), ("production", True),
)
SLOTS = 15  # hosts per application and environment; a deployment takes the first 5-15 of them
BATCH = 5
SPACING_S = 45  # between two deployments: 2,000,000 of them span about three years
LIVE_HOSTS, LIVE_BATCH, LIVE_CURRENT = 1000, 50, 7  # the running deployment; current_batch is 0-based
LIVE_FAILED = (152, 157, 160, 171, 188)  # host slots that failed in batch 4 (converge)
BIG_TABLES = ("deployments_deployment", "deployments_hostdeployment", "audit_event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=2_000_000, help="finished deployments (default 2,000,000)")
    parser.add_argument("--applications", type=int, default=200, help="applications (default 200)")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per page first (default 10)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the pages' main queries")
    parser.add_argument("--database-url", help="use this PostgreSQL database instead of starting one; the data is "
                        "generated only if it has no deployments yet (to measure again after a change)")
    args = parser.parse_args()
    if not 1000 <= args.deployments <= 50_000_000:
        parser.error("--deployments: give 1000 to 50,000,000")
    if not 1 <= args.applications <= 999:
        parser.error("--applications: give 1 to 999")
    if args.requests < 20:
        parser.error("--requests: give at least 20 (a p95 of fewer means little)")

    with contextlib.ExitStack() as stack:
        if args.database_url:
            services = {"ORBITER_DATABASE_URL": args.database_url}
        else:
            services = stack.enter_context(running("postgres"))
        os.environ.update({
            **services,
            "ORBITER_MODE": "server",
            "ORBITER_SECRET_KEY": "bench-only-secret",
            "ORBITER_ALLOWED_HOSTS": "testserver",
            "ORBITER_LOG_LEVEL": os.environ.get("ORBITER_LOG_LEVEL", "WARNING"),
            "DJANGO_SETTINGS_MODULE": "orbiter.settings",
        })
        import django

        django.setup()
        from django.core.management import call_command

        warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: no collected static files
        call_command("migrate", verbosity=0)
        started = time.monotonic()
        gen = Generator(args.deployments, args.applications)
        phases = gen.run() if not gen.generated() else {"reused": args.database_url}
        generation_s = time.monotonic() - started
        _log(f"generated in {generation_s:.1f} s: {phases}")
        if args.explain:
            explain(gen)
        load_before = os.getloadavg()[0]
        pages = measure(gen, args.requests, args.warmup)
        load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        sizes = gen.sizes()
    result = {
        "deployments": args.deployments + 1,
        "host_rows": sizes["host_rows"],
        "events": sizes["events"],
        "applications": args.applications + 1,
        "hosts": sizes["hosts"],
        "generation_s": round(generation_s, 1),
        "generation_phases_s": phases,
        **{f"{name}_p95_ms": page["p95_ms"] for name, page in pages.items()},
        "pages": pages,
        "requests": args.requests,
        "warmup": args.warmup,
        "client": "django.test.Client in-process, signed in as a deployer",
        "load_average": load,  # 1-minute, before and after measuring: other work on the machine
        "cores": os.cpu_count(),
        "database_gib": sizes["database_gib"],
    }
    print(json.dumps(result))


def _log(message: str) -> None:
    print(f"[ui bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Generator:
    """The fleet and its history, by set-based SQL. Ids are computed, not looked up: deployment
    i (1-based) is application (i-1) % A, environment ((i-1) // A) % 5, build (i-1) // (5A), so
    every row of every table derives from i alone and the big inserts need no joins."""

    def __init__(self, deployments: int, applications: int):
        self.n, self.a = deployments, applications
        self.versions = math.ceil(deployments / (applications * len(ENVIRONMENTS)))
        self.live_id = deployments + 1
        self.live_app = applications + 1
        self.live_artifact = applications * self.versions + 1  # and + 1: the target
        self.live_host0 = applications * len(ENVIRONMENTS) * SLOTS + 1
        self.production = len(ENVIRONMENTS)

    # --- driver ---------------------------------------------------------------------------
    def generated(self) -> bool:
        from orbiter.deployments.models import Deployment

        return Deployment.objects.filter(pk=self.live_id).exists()

    def run(self) -> dict:
        from django.db import connection

        phases: dict[str, float] = {}

        def phase(name, fn, *a):
            t = time.monotonic()
            fn(*a)
            phases[name] = round(time.monotonic() - t, 1)
            _log(f"{name}: {phases[name]} s")

        with connection.cursor() as cur:
            cur.execute("ALTER SYSTEM SET max_wal_size = '16GB'")
            cur.execute("ALTER SYSTEM SET checkpoint_timeout = '30min'")
            cur.execute("SELECT pg_reload_conf()")
        phase("catalog", self.catalog)
        dropped = self.drop_secondary()
        # Two connections, two cores: host rows alone, deployments then events on the other.
        phase("deployments+hosts+events", self.parallel,
              [self.host_deployments], [self.deployments, self.events])
        phase("running deployment", self.live)
        phase("pins", self.pins)
        phase("indexes+constraints", self.restore, dropped)
        phase("vacuum analyze", self.vacuum)
        self.sequences()
        self.user()
        return phases

    @staticmethod
    def parallel(*groups) -> None:
        from django.db import connections

        errors: list[BaseException] = []

        def work(group):
            try:
                for fn in group:
                    fn()
            except BaseException as e:  # noqa: BLE001 - re-raised below
                errors.append(e)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=work, args=(g,)) for g in groups]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    @staticmethod
    def sql(statement: str, params=None) -> None:
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '1GB'")
            cur.execute("SET work_mem = '256MB'")
            cur.execute(statement, params)

    # --- the catalog ----------------------------------------------------------------------
    def catalog(self) -> None:
        environments = ", ".join(
            f"({i}, '{name}', {i - 1}, {str(protected).lower()})" for i, (name, protected) in enumerate(ENVIRONMENTS, 1)
        )
        self.sql(f"""
            INSERT INTO catalog_environment (id, name, "order", requires_approval, min_approvals, lock_reason,
                                             locked_by, puppet_environment)
            SELECT v.id, v.name, v.ord, v.protected, 1, '', '', 'production'
            FROM (VALUES {environments}) AS v(id, name, ord, protected)""")
        self.sql("""
            INSERT INTO catalog_application (id, name, package, puppet_class, description, rollout_defaults,
                                             converge_driver, converge_options, health_driver, health_options,
                                             created_at)
            SELECT a, name, name, '', '', '{"batch_size": "5"}', 'simulated', '{}', 'none', '{}',
                   now() - interval '4 years'
            FROM (SELECT a, CASE WHEN a <= %(apps)s THEN format('app-%%s', lpad(a::text, 3, '0'))
                                 ELSE 'storefront' END AS name
                  FROM generate_series(1, %(apps)s + 1) a) s""", {"apps": self.a})
        # Build v of application a: version 1.<v/100>.<v%100>, release 1; ids a-major.
        self.sql("""
            INSERT INTO catalog_artifact (id, application_id, name, epoch, version, release, arch, source_url,
                                          build_url, checksum, found_at)
            SELECT (a - 1) * %(versions)s + v + 1, a, format('app-%%s', lpad(a::text, 3, '0')), 0,
                   format('1.%%s.%%s', v / 100, v %% 100), '1', 'noarch', '', '', '',
                   now() - make_interval(secs => (%(n)s - v * %(per_build)s) * %(spacing)s + 3600)
            FROM generate_series(1, %(apps)s) a CROSS JOIN generate_series(0, %(versions)s - 1) v""",
                 {"apps": self.a, "versions": self.versions, "n": self.n, "per_build": self.a * len(ENVIRONMENTS),
                  "spacing": SPACING_S})
        self.sql("""
            INSERT INTO catalog_artifact (id, application_id, name, epoch, version, release, arch, source_url,
                                          build_url, checksum, found_at)
            VALUES (%(id)s, %(app)s, 'storefront', 0, '1.0.0', '1', 'noarch', '', '', '', now() - interval '30 days'),
                   (%(id)s + 1, %(app)s, 'storefront', 0, '1.1.0', '1', 'noarch', '', '', '', now() - interval '1 day')
            """, {"id": self.live_artifact, "app": self.live_app})
        # Hosts: slot k of application a in environment e has id ((a-1)*5 + e-1)*15 + k + 1.
        self.sql("""
            INSERT INTO catalog_host (id, certname, environment_id, labels, healthy, last_seen_at, facts,
                                      agent_public_key, agent_key_pending)
            SELECT ((a - 1) * 5 + e - 1) * %(slots)s + k + 1,
                   format('app-%%s-%%s-%%s.example.test', lpad(a::text, 3, '0'), e, lpad(k::text, 2, '0')),
                   e, '{}'::jsonb, (a * 7 + k) %% 61 <> 0, now() - interval '40 seconds', '{}'::jsonb, '', ''
            FROM generate_series(1, %(apps)s) a, generate_series(1, 5) e, generate_series(0, %(slots)s - 1) k
            UNION ALL
            SELECT %(live0)s + k, format('storefront-%%s.example.test', lpad(k::text, 4, '0')), %(prod)s, '{}'::jsonb,
                   true, now() - interval '20 seconds', '{}'::jsonb, '', ''
            FROM generate_series(0, %(live_hosts)s - 1) k""",
                 {"apps": self.a, "slots": SLOTS, "live0": self.live_host0, "prod": self.production,
                  "live_hosts": LIVE_HOSTS})
        self.sql("""
            INSERT INTO catalog_host_applications (host_id, application_id)
            SELECT id, CASE WHEN id >= %(live0)s THEN %(live_app)s ELSE (id - 1) / (5 * %(slots)s) + 1 END
            FROM catalog_host""", {"live0": self.live_host0, "live_app": self.live_app, "slots": SLOTS})

    # --- the history ----------------------------------------------------------------------
    # Shared SQL fragments over i (the deployment id).
    APP = "((i - 1) %% {a} + 1)"
    ENV = "(((i - 1) / {a}) %% 5 + 1)"
    BUILD = "((i - 1) / ({a} * 5))"
    STATUS = "(CASE WHEN i %% 53 = 0 THEN 'failed' WHEN i %% 97 = 0 THEN 'cancelled' ELSE 'succeeded' END)"
    HOSTS = "(5 + (i * 7) %% 11)"  # 5..15, 10 on average

    def _f(self, fragment: str) -> str:
        return fragment.format(a=self.a)

    def _t0(self) -> str:
        return f"(now() - make_interval(secs => ({self.n} + 200)::double precision * {SPACING_S}))"

    def deployments(self) -> None:
        from orbiter.deployments.strategy import Strategy

        strategy = json.dumps(Strategy.parse({"batch_size": str(BATCH)}).as_dict())
        app, env, build, status, hosts = map(self._f, (self.APP, self.ENV, self.BUILD, self.STATUS, self.HOSTS))
        # The plan (batches of host ids) depends on (application, environment, size) only.
        self.sql(f"""
            CREATE UNLOGGED TABLE bench_plan AS
            SELECT a, e, n, (SELECT jsonb_agg(b ORDER BY bi) FROM (
                       SELECT k / {BATCH} AS bi, jsonb_agg(((a - 1) * 5 + e - 1) * {SLOTS} + k + 1 ORDER BY k) AS b
                       FROM generate_series(0, n - 1) k GROUP BY k / {BATCH}) s) AS plan
            FROM generate_series(1, %(apps)s) a, generate_series(1, 5) e, generate_series(5, 15) n""",
                 {"apps": self.a})
        self.sql("CREATE UNIQUE INDEX ON bench_plan (a, e, n)")
        self.sql(f"""
            INSERT INTO deployments_deployment (
                id, application_id, environment_id, artifact_id, status, requested_by_name, comment, is_rollback,
                strategy, plan, current_batch, batch_finished_at, pauses_taken_through, cancel_requested, message,
                created_at, started_at, finished_at, updated_at, wake_at, wake_pending, advanced_at)
            SELECT i, app, env, (app - 1) * {self.versions} + build + 1, status,
                   format('user-%%s', i %% 40), '', false, %(strategy)s::jsonb, p.plan,
                   CASE status WHEN 'succeeded' THEN (hosts - 1) / {BATCH} ELSE 0 END, t + interval '150 s', -1,
                   status = 'cancelled',
                   CASE status WHEN 'failed' THEN 'failure budget exceeded: 1 host failed (budget 0)'
                               WHEN 'cancelled' THEN 'cancelled by the requester' ELSE '' END,
                   t, t + interval '5 s', t + interval '160 s', t + interval '160 s', NULL, false,
                   t + interval '160 s'
            FROM (SELECT i, {app} AS app, {env} AS env, {build} AS build, {status} AS status, {hosts} AS hosts,
                         {self._t0()} + make_interval(secs => i::double precision * {SPACING_S}) AS t
                  FROM generate_series(1, %(n)s) i) d
            JOIN bench_plan p ON p.a = d.app AND p.e = d.env AND p.n = d.hosts""",
                 {"n": self.n, "strategy": strategy})
        self.sql("DROP TABLE bench_plan")

    def host_deployments(self) -> None:
        app, env, build, status, hosts = map(self._f, (self.APP, self.ENV, self.BUILD, self.STATUS, self.HOSTS))
        # Failed: batch 1 done but its third host, later batches skipped; cancelled: batch 1 done, rest skipped.
        self.sql(f"""
            INSERT INTO deployments_hostdeployment (
                id, deployment_id, host_id, batch, status, target_artifact_id, previous_artifact_id, pin_moved,
                round, attempt, step_started_at, step_deadline, not_before, action_issued_at, resent, outcome,
                puppet, log_tail, error, started_at, finished_at)
            SELECT (i - 1) * {SLOTS} + k + 1, i, ((app - 1) * 5 + env - 1) * {SLOTS} + k + 1, k / {BATCH}, hs,
                   artifact, CASE WHEN build > 0 THEN artifact - 1 END, hs IN ('done', 'failed'), 1, 1,
                   NULL, NULL, NULL, NULL, false, NULL,
                   CASE hs WHEN 'done' THEN '{{"changed": 3, "failed": 0, "duration_s": 14.2}}'::jsonb
                           WHEN 'failed' THEN '{{"changed": 1, "failed": 2, "exit_code": 6}}'::jsonb
                           ELSE '{{}}'::jsonb END,
                   '', CASE hs WHEN 'failed' THEN 'puppet run failed: 2 resources failed' ELSE '' END,
                   CASE WHEN hs <> 'skipped' THEN t + make_interval(secs => 10 + (k / {BATCH}) * 50) END,
                   t + make_interval(secs => 60 + (k / {BATCH}) * 50)
            FROM (SELECT i, k, app, env, build, (app - 1) * {self.versions} + build + 1 AS artifact, t,
                         CASE WHEN status = 'succeeded' OR k < {BATCH} AND NOT (status = 'failed' AND k = 2)
                              THEN 'done' WHEN status = 'failed' AND k = 2 THEN 'failed' ELSE 'skipped' END AS hs
                  FROM (SELECT i, {app} AS app, {env} AS env, {build} AS build, {status} AS status,
                               {hosts} AS hosts,
                               {self._t0()} + make_interval(secs => i::double precision * {SPACING_S}) AS t
                        FROM generate_series(1, %(n)s) i) d
                  CROSS JOIN LATERAL generate_series(0, d.hosts - 1) k) h""", {"n": self.n})

    def events(self) -> None:
        """Deployment Events (ids i*8 + step, in time order): request; accept, or
        require_approval then approve in protected environments; start; the end."""
        app, env, build, status = map(self._f, (self.APP, self.ENV, self.BUILD, self.STATUS))
        self.sql(f"""
            INSERT INTO audit_event (id, created_at, actor, verb, object_type, object_id, before, after,
                                     deployment_id, source_ip, data)
            SELECT i * 8 + s, t + make_interval(secs => s), CASE WHEN s = 2 THEN 'approver-' || (i %% 7)
                   WHEN s IN (3, 4) THEN 'orbiter' ELSE 'user-' || (i %% 40) END,
                   'deployment.' || CASE s WHEN 0 THEN 'request' WHEN 1 THEN
                       (CASE WHEN env >= 4 THEN 'require_approval' ELSE 'accept' END)
                       WHEN 2 THEN 'approve' WHEN 3 THEN 'start'
                       ELSE (CASE status WHEN 'succeeded' THEN 'succeed' WHEN 'failed' THEN 'fail'
                                         ELSE 'cancel' END) END,
                   'deployment', i::text,
                   CASE s WHEN 0 THEN '' WHEN 1 THEN 'pending' WHEN 2 THEN 'awaiting_approval' WHEN 3 THEN 'queued'
                          ELSE 'running' END,
                   CASE s WHEN 0 THEN 'pending' WHEN 1 THEN (CASE WHEN env >= 4 THEN 'awaiting_approval'
                                                                  ELSE 'queued' END)
                          WHEN 2 THEN 'queued' WHEN 3 THEN 'running' ELSE status END,
                   i, CASE WHEN s IN (0, 2) THEN '10.1.2.3'::inet END,
                   CASE WHEN s = 0 THEN jsonb_build_object(
                            'version', format('1.%%s.%%s-1', build / 100, build %% 100),
                            'environment', (ARRAY['cert', 'test', 'staging', 'preprod', 'production'])[env])
                        ELSE '{{}}'::jsonb END
            FROM (SELECT i, {app} AS app, {env} AS env, {build} AS build, {status} AS status,
                         {self._t0()} + make_interval(secs => i::double precision * {SPACING_S}) AS t
                  FROM generate_series(1, %(n)s) i) d
            CROSS JOIN generate_series(0, 4) s
            WHERE s <> 2 OR env >= 4""", {"n": self.n})

    def live(self) -> None:
        """storefront 1.0.0-1 → 1.1.0-1 in production, 1,000 hosts in batches of 50, batch 8 moving."""
        from orbiter.deployments.strategy import Strategy

        strategy = Strategy.parse({"batch_size": str(LIVE_BATCH), "failure_budget": "10"}).as_dict()
        hosts = [self.live_host0 + k for k in range(LIVE_HOSTS)]
        plan = [hosts[b:b + LIVE_BATCH] for b in range(0, LIVE_HOSTS, LIVE_BATCH)]
        p = {"id": self.live_id, "app": self.live_app, "env": self.production, "art": self.live_artifact + 1,
             "prev": self.live_artifact, "strategy": json.dumps(strategy), "plan": json.dumps(plan),
             "cur": LIVE_CURRENT, "h0": self.live_host0, "hosts": LIVE_HOSTS, "batch": LIVE_BATCH,
             "failed": list(LIVE_FAILED), "ev0": (self.n + 1) * 8, "hd0": self.n * SLOTS}
        self.sql("""
            INSERT INTO deployments_deployment (
                id, application_id, environment_id, artifact_id, status, requested_by_name, comment, is_rollback,
                strategy, plan, current_batch, batch_finished_at, pauses_taken_through, cancel_requested, message,
                created_at, started_at, finished_at, updated_at, wake_at, wake_pending, advanced_at)
            VALUES (%(id)s, %(app)s, %(env)s, %(art)s, 'running', 'user-1', 'weekly release', false,
                    %(strategy)s::jsonb, %(plan)s::jsonb, %(cur)s, now() - interval '30 s', -1, false, '',
                    now() - interval '30 min', now() - interval '25 min', NULL, now() - interval '1 s',
                    now() + interval '5 s', false, now() - interval '1 s')""", p)
        # Slot k: batch k/50; batches before the current one done (but LIVE_FAILED), the current
        # one in flight (a quarter at each step), the rest pending.
        self.sql("""
            INSERT INTO deployments_hostdeployment (
                id, deployment_id, host_id, batch, status, target_artifact_id, previous_artifact_id, pin_moved,
                round, attempt, step_started_at, step_deadline, not_before, action_issued_at, resent, outcome,
                puppet, log_tail, error, started_at, finished_at)
            SELECT %(hd0)s + k + 1, %(id)s, %(h0)s + k, k / %(batch)s, hs, %(art)s, %(prev)s,
                   hs NOT IN ('pending', 'draining'), 1, CASE WHEN hs = 'failed' THEN 3 ELSE 1 END,
                   CASE WHEN hs IN ('draining', 'converging', 'verifying', 'enabling') THEN now() - interval '10 s' END,
                   CASE WHEN hs IN ('draining', 'converging', 'verifying', 'enabling') THEN now() + interval '5 min' END,
                   NULL, NULL, false, NULL,
                   CASE hs WHEN 'done' THEN '{"changed": 4, "failed": 0, "duration_s": 21.5}'::jsonb
                           WHEN 'failed' THEN '{"changed": 1, "failed": 3, "exit_code": 6}'::jsonb
                           ELSE '{}'::jsonb END,
                   CASE WHEN hs IN ('done', 'failed') THEN repeat('Notice: /Stage[main]/Storefront/Package[storefront]/ensure: changed ''1.0.0-1'' to ''1.1.0-1''' || chr(10), 12) ELSE '' END,
                   CASE WHEN hs = 'failed' THEN 'converge failed after 3 attempts: 3 resources failed' ELSE '' END,
                   CASE WHEN hs <> 'pending' THEN now() - make_interval(secs => 1500 - (k / %(batch)s) * 200) END,
                   CASE WHEN hs IN ('done', 'failed') THEN now() - make_interval(secs => 1400 - (k / %(batch)s) * 200) END
            FROM (SELECT k, CASE WHEN k = ANY(%(failed)s) THEN 'failed'
                                 WHEN k / %(batch)s < %(cur)s THEN 'done'
                                 WHEN k / %(batch)s = %(cur)s THEN
                                      (ARRAY['draining', 'converging', 'verifying', 'enabling'])[k %% 4 + 1]
                                 ELSE 'pending' END AS hs
                  FROM generate_series(0, %(hosts)s - 1) k) s""", p)
        # Its Events: request, accept (production asks approval: require_approval, approve), start,
        # then per host its steps so far.
        self.sql("""
            INSERT INTO audit_event (id, created_at, actor, verb, object_type, object_id, before, after,
                                     deployment_id, source_ip, data)
            SELECT %(ev0)s + s, now() - interval '30 min' + make_interval(secs => s * 60), actor, verb,
                   'deployment', %(id)s::text, b, a, %(id)s, NULL, '{}'
            FROM (VALUES (0, 'user-1', 'deployment.request', '', 'pending'),
                         (1, 'user-1', 'deployment.require_approval', 'pending', 'awaiting_approval'),
                         (2, 'approver-1', 'deployment.approve', 'awaiting_approval', 'queued'),
                         (3, 'orbiter', 'deployment.start', 'queued', 'running')) v(s, actor, verb, b, a)""", p)
        # Host Events below take ids from the sequence: past the explicit ids first.
        self.sql("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), (SELECT max(id) FROM audit_event))")
        self.sql("""
            INSERT INTO audit_event (created_at, actor, verb, object_type, object_id, before, after,
                                     deployment_id, source_ip, data)
            SELECT now() - make_interval(secs => 1500 - (hd.batch * 200) - step * 30), 'orbiter',
                   'host.' || (ARRAY['drain', 'converge', 'verify', 'enable', 'finish'])[step],
                   'hostdeployment', hd.id::text,
                   (ARRAY['pending', 'draining', 'converging', 'verifying', 'enabling'])[step],
                   (ARRAY['draining', 'converging', 'verifying', 'enabling', 'done'])[step],
                   %(id)s, NULL::inet, jsonb_build_object('host', h.certname)
            FROM deployments_hostdeployment hd JOIN catalog_host h ON h.id = hd.host_id
            CROSS JOIN generate_series(1, 5) step
            WHERE hd.id > %(hd0)s AND hd.deployment_id = %(id)s AND step <= CASE hd.status WHEN 'done' THEN 5 WHEN 'failed' THEN 2
                  WHEN 'enabling' THEN 4 WHEN 'verifying' THEN 3 WHEN 'converging' THEN 2
                  WHEN 'draining' THEN 1 ELSE 0 END
            UNION ALL
            SELECT now() - make_interval(secs => 1500 - (hd.batch * 200) - 90), 'orbiter', 'host.fail',
                   'hostdeployment', hd.id::text, 'converging', 'failed', %(id)s, NULL,
                   jsonb_build_object('host', h.certname, 'error', hd.error)
            FROM deployments_hostdeployment hd JOIN catalog_host h ON h.id = hd.host_id
            WHERE hd.id > %(hd0)s AND hd.deployment_id = %(id)s AND hd.status = 'failed'
            ORDER BY 1""", p)

    def pins(self) -> None:
        """Each host pinned to the last build that succeeded in its environment; every tenth
        application's slot-0 hosts report an older version installed (drift)."""
        self.sql(f"""
            CREATE UNLOGGED TABLE bench_last AS
            SELECT application_id, environment_id, max(artifact_id) AS artifact_id
            FROM deployments_deployment WHERE status = 'succeeded' AND id <= {self.n}
            GROUP BY 1, 2""")
        self.sql(f"""
            INSERT INTO catalog_pin (host_id, application_id, artifact_id, deployment_id, updated_at)
            SELECT h.id, l.application_id, l.artifact_id, NULL, now() - interval '1 hour'
            FROM catalog_host h
            JOIN bench_last l ON l.application_id = (h.id - 1) / (5 * {SLOTS}) + 1
                              AND l.environment_id = h.environment_id
            WHERE h.id < %(live0)s""", {"live0": self.live_host0})
        self.sql("""
            INSERT INTO catalog_pin (host_id, application_id, artifact_id, deployment_id, updated_at)
            SELECT hd.host_id, %(app)s, CASE WHEN hd.status = 'done' THEN %(art)s + 1 ELSE %(art)s END,
                   CASE WHEN hd.status = 'done' THEN %(id)s END, now()
            FROM deployments_hostdeployment hd WHERE hd.id > %(hd0)s AND hd.deployment_id = %(id)s""",
                 {"app": self.live_app, "art": self.live_artifact, "id": self.live_id, "hd0": self.n * SLOTS})
        self.sql(f"""
            UPDATE catalog_host h SET facts = jsonb_build_object('packages', jsonb_build_object(
                a.name, CASE WHEN p.application_id %% 10 = 0 AND p.artifact_id > (p.application_id - 1) * {self.versions} + 1
                             THEN format('%%s-%%s', (SELECT version FROM catalog_artifact WHERE id = p.artifact_id - 1), '1')
                             ELSE format('%%s-%%s', a.version, a.release) END))
            FROM catalog_pin p JOIN catalog_artifact a ON a.id = p.artifact_id
            WHERE p.host_id = h.id AND (h.id - 1) %% {SLOTS} = 0 AND h.id < %(live0)s""",
                 {"live0": self.live_host0})
        self.sql("DROP TABLE bench_last")

    # --- bulk-load housekeeping -------------------------------------------------------------
    @staticmethod
    def drop_secondary() -> list[str]:
        """Drop the big tables' indexes (but primary keys), unique and foreign-key constraints;
        return the statements that recreate them."""
        from django.db import connection

        restore: list[str] = []
        with connection.cursor() as cur:
            for table in BIG_TABLES:
                cur.execute("""
                    SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                    WHERE conrelid = %s::regclass AND contype IN ('u', 'f')""", [table])
                for name, definition in cur.fetchall():
                    cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                    restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                cur.execute("""
                    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
                    WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""", [table])
                for name, definition in cur.fetchall():
                    cur.execute(f"DROP INDEX {name}")
                    restore.append(definition)
        # Indexes (and unique constraints, which build one) before foreign keys, which use them.
        return sorted(restore, key=lambda s: "FOREIGN KEY" in s)

    def restore(self, statements: list[str]) -> None:
        indexes = [s for s in statements if "FOREIGN KEY" not in s]
        keys = [s for s in statements if "FOREIGN KEY" in s]
        halves = [indexes[0::2], indexes[1::2]]
        self.parallel(*[[lambda s=s: self._timed(s) for s in half] for half in halves])
        for statement in keys:
            self._timed(statement)

    def _timed(self, statement: str) -> None:
        t = time.monotonic()
        self.sql(statement)
        _log(f"  {time.monotonic() - t:6.1f} s  {statement[:110]}")

    @staticmethod
    def vacuum() -> None:
        from django.db import connection

        with connection.cursor() as cur:
            for table in (*BIG_TABLES, "catalog_host", "catalog_pin", "catalog_artifact",
                          "catalog_host_applications", "catalog_application", "catalog_environment"):
                cur.execute(f"VACUUM (ANALYZE) {table}")

    @staticmethod
    def sequences() -> None:
        from django.db import connection

        with connection.cursor() as cur:
            for table in (*BIG_TABLES, "catalog_host", "catalog_pin", "catalog_artifact",
                          "catalog_application", "catalog_environment"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")

    @staticmethod
    def user() -> None:
        from django.contrib.auth.models import User

        from orbiter.accounts.services import role_grant

        User.objects.create_user("bench", password=None)
        role_grant(role="deployer", actor="bench", user="bench")

    def sizes(self) -> dict:
        from django.db import connection

        with connection.cursor() as cur:
            # Estimates from the statistics VACUUM ANALYZE just gathered: exact counts cost minutes.
            cur.execute("""SELECT relname, reltuples::bigint FROM pg_class
                           WHERE relname IN ('deployments_hostdeployment', 'audit_event', 'catalog_host')""")
            rows = dict(cur.fetchall())
            cur.execute("SELECT pg_database_size(current_database())")
            size = cur.fetchone()[0]
        return {"host_rows": rows["deployments_hostdeployment"], "events": rows["audit_event"],
                "hosts": rows["catalog_host"], "database_gib": round(size / 2**30, 1)}


# --- measuring ------------------------------------------------------------------------------
def requests_for(gen: Generator, count: int) -> dict[str, list[tuple[str, dict]]]:
    """The URLs each page is measured with, `count` of them, varied like real use: other
    applications, the history's filters (rare combinations included), deep keyset pages, old
    deployments. `audit_search` (free text) is measured with 5 requests only: it scans."""
    live = gen.live_id
    apps = [f"app-{1 + (i * 37) % gen.a:03d}" for i in range(count)]
    deep = [1 + (i * 7919) % gen.n for i in range(count)]
    history = []
    for i in range(count):
        history.append("/deployments/" + (
            "", f"?application={apps[i]}", "?environment=production&status=failed", f"?before={deep[i]}",
            f"?application={apps[i]}&status=failed", f"?application={apps[i]}&environment=production",
            "?status=cancelled", f"?application={apps[i]}&before={deep[i]}",
        )[i % 8])
    application = [f"/applications/{app}/" + ("?environment=production" if i % 4 == 3 else "")
                   for i, app in enumerate(apps)]
    htmx = {"HTTP_HX_REQUEST": "true"}
    audit = ["/audit/", f"/audit/?object=deployment:{live // 2}", "/audit/?verb=deployment.fail",
             "/audit/?actor=user-7"]
    return {
        "dashboard": [("/", {})] * count,
        "application": [(url, {}) for url in application],
        "history": [(url, {}) for url in history],
        "deployment": [(f"/deployments/{live}/", {})] * count,
        "live": [(f"/deployments/{live}/live", htmx)] * count,
        "live_all_hosts": [(f"/deployments/{live}/live?hosts=all", htmx)] * count,
        "finished_deployment": [(f"/deployments/{d}/", {}) for d in deep],
        "audit": [(audit[i % 4], {}) for i in range(count)],
        "audit_search": [(f"/audit/?q={q}", {}) for q in ("approver-3", "storefront-0042", "1.4.2-1", "nothing-x",
                                                          "user-12")],
    }


def measure(gen: Generator, count: int, warmup: int) -> dict:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(User.objects.get(username="bench"))
    results = {}
    for name, urls in requests_for(gen, count).items():
        urls = urls[:count]
        for url, headers in urls[:warmup if len(urls) == count else 1]:
            _get(client, url, headers)
        timings, cpu = [], []
        for url, headers in urls:
            t, c = time.perf_counter(), time.process_time()
            response = _get(client, url, headers)
            timings.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        with CaptureQueriesContext(connection) as queries:
            response = _get(client, *urls[0])
        timings.sort()
        cpu.sort()
        results[name] = {
            "p50_ms": round(timings[len(timings) // 2], 1),
            "p95_ms": round(timings[math.ceil(0.95 * len(timings)) - 1], 1),
            "requests": len(timings),
            "max_ms": round(timings[-1], 1),
            # This process's CPU (Python: Django, templates, drivers; not PostgreSQL's): less
            # sensitive to other work on the machine than the wall time.
            "python_cpu_p50_ms": round(cpu[len(cpu) // 2], 1),
            "queries": len(queries),
            "kib": round(len(response.content) / 1024, 1),
        }
        _log(f"{name}: {results[name]}")
    return results


def _get(client, url: str, headers: dict):
    response = client.get(url, **headers)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    return response


def explain(gen: Generator) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every query one request of each page makes, slowest first."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(User.objects.get(username="bench"))
    for name, urls in requests_for(gen, 8).items():
        for url, headers in urls[:8]:
            with CaptureQueriesContext(connection) as captured:
                _get(client, url, headers)
            plans = []
            with connection.cursor() as cur:
                for q in captured.captured_queries:
                    if not q["sql"].lstrip().upper().startswith("SELECT"):
                        continue
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
                    plan = "\n".join(r[0] for r in cur.fetchall())
                    took = float(plan.rsplit("Execution Time: ", 1)[1].split()[0])
                    plans.append((took, q["sql"], plan))
            plans.sort(reverse=True)
            print(f"=== {name} {url}: {len(captured)} queries, slowest {plans[0][0]:.1f} ms", file=sys.stderr)
            for took, sql, plan in plans[:2]:
                if took >= 2:
                    print(f"--- {took:.1f} ms: {sql[:400]}\n{plan}", file=sys.stderr)


if __name__ == "__main__":
    main()
