"""Reads behind the pages. Each answers with a few indexed queries: the dashboard, the
history and the live endpoint are benchmarked on millions of rows (docs/benchmarks.md)."""

import functools
from dataclasses import dataclass, field

from django.db.models import Case, CharField, Count, OuterRef, Q, Subquery, TextField, When
from django.db.models.functions import Cast

from orbiter.artifacts.rpmversion import rpm_sort_key
from orbiter.audit.models import Event
from orbiter.audit.selectors import events_visible_to
from orbiter.catalog.models import Application, Artifact, Environment, Host, Pin
from orbiter.deployments import states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.deployments.rows import in_ids

PAGE_SIZE = 25


# --- the dashboard ------------------------------------------------------------------------
@dataclass
class Cell:
    """What one application runs in one environment."""

    hosts: int = 0
    versions: list[tuple[str, int]] = field(default_factory=list)  # (label, hosts), newest first
    drifted: int = 0  # hosts whose agent reports another version than the one pinned

    # Cached: the dashboard asks each of a thousand cells several times.
    @functools.cached_property
    def unpinned(self) -> int:
        return self.hosts - sum(n for _, n in self.versions)

    @functools.cached_property
    def mixed(self) -> bool:
        return len(self.versions) > 1 or (bool(self.versions) and self.unpinned > 0)

    @property
    def drift(self) -> bool:
        return self.mixed or self.drifted > 0


def version_matrix(environments: list[Environment]) -> list[tuple[str, list[Cell]]]:
    """Applications × environments (application names in order): the pinned versions with
    their host counts, drift flagged.

    Three queries whatever the fleet's size: one grouped read over the hosts of the
    environments (_matrix_rows), the (epoch, version, release) of the artifacts pinned there,
    and the applications."""
    rows = _matrix_rows([e.pk for e in environments]) if environments else []
    evrs = {
        pk: (_label(epoch, version, release), rpm_sort_key(epoch, version, release))
        # The ids as one array parameter (in_ids): with one placeholder each, psycopg re-parsed
        # the query on every call, hundreds of placeholders being past its cache (~3 ms).
        for pk, epoch, version, release in Artifact.objects.filter(
            pk__in=in_ids({r[2] for r in rows if r[2] is not None})).values_list("pk", "epoch", "version", "release")
    }
    cells: dict[tuple[int, int], Cell] = {}
    pinned: dict[tuple[int, int], dict[int, int]] = {}  # cell -> artifact id -> hosts
    for app_id, env_id, artifact_id, members, pins, reported, version in rows:
        key = (app_id, env_id)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Cell()
        cell.hosts += members
        if artifact_id is not None:
            counts = pinned.setdefault(key, {})
            counts[artifact_id] = counts.get(artifact_id, 0) + pins
            if reported and version != evrs[artifact_id][0]:
                cell.drifted += pins
    for key, cell in cells.items():
        if not cell.hosts:  # pins on hosts that no longer run the application: no drift counted
            cell.drifted = 0
        counts = pinned.get(key)
        if counts and len(counts) == 1:  # the usual case: nothing to sort
            [(pk, n)] = counts.items()
            cell.versions = [(evrs[pk][0], n)]
        elif counts:
            newest_first = sorted(counts.items(), key=lambda item: evrs[item[0]][1], reverse=True)
            cell.versions = [(evrs[pk][0], n) for pk, n in newest_first]
    return [
        (name, [cells.get((pk, env.pk)) or Cell() for env in environments])
        for pk, name in Application.objects.order_by("name").values_list("pk", "name")
    ]


def _label(epoch: int, version: str, release: str) -> str:
    """str(EVR(epoch, version, release)), without validating again what the database holds."""
    return (f"{epoch}:" if epoch else "") + version + (f"-{release}" if release else "")


# What a host's agent reports for the application's package (facts["packages"][package]):
# whether it reports anything, and the version if it is a string (anything else differs from
# every pin). JSON is the one thing the two databases spell differently.
_REPORTED_SQL = {
    "postgresql": ("(h.facts -> 'packages') -> a.package IS NOT NULL",
                   "CASE WHEN jsonb_typeof((h.facts -> 'packages') -> a.package) = 'string'"
                   " THEN (h.facts -> 'packages') ->> a.package END"),
    "sqlite": ("json_type(h.facts, {path}) IS NOT NULL",
               "CASE WHEN json_type(h.facts, {path}) = 'text' THEN json_extract(h.facts, {path}) END"),
}
_SQLITE_PATH = "'$.packages.\"' || a.package || '\"'"


def _matrix_rows(env_ids: list[int]) -> list[tuple]:
    """Hosts grouped by (application, environment, pinned artifact, version reported for
    the application's package): (application id, environment id, artifact id or None,
    hosts running the application, hosts pinned, reported (bool), the version reported if
    a string), one row per group.

    One pass over memberships, pins and hosts (hash joins on this size). A FULL JOIN so that
    a pin on a host that no longer runs the application still counts, as it does for the
    ENC. The artifacts are read apart: joined here, the planner (expecting a row per host)
    walked all of them."""
    from django.db import connection

    present, version = _REPORTED_SQL[connection.vendor]
    present, version = present.format(path=_SQLITE_PATH), version.format(path=_SQLITE_PATH)
    sql = f"""
        SELECT COALESCE(m.application_id, p.application_id), h.environment_id, p.artifact_id,
               COUNT(m.host_id), COUNT(p.id),
               CASE WHEN p.id IS NOT NULL THEN {present} ELSE FALSE END,
               CASE WHEN p.id IS NOT NULL THEN {version} END
        FROM {Host.applications.through._meta.db_table} m
        FULL JOIN {Pin._meta.db_table} p ON p.host_id = m.host_id AND p.application_id = m.application_id
        JOIN {Host._meta.db_table} h ON h.id = COALESCE(m.host_id, p.host_id)
        JOIN {Application._meta.db_table} a ON a.id = COALESCE(m.application_id, p.application_id)
        WHERE h.environment_id IN ({", ".join(["%s"] * len(env_ids))})
        GROUP BY 1, 2, 3, 6, 7"""
    with connection.cursor() as cursor:
        cursor.execute(sql, env_ids)
        return cursor.fetchall()


@dataclass
class Progress:
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    in_flight: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped

    def percent(self, count: int) -> int:
        return round(100 * count / self.total) if self.total else 0

    @property
    def done_pct(self) -> int:
        return self.percent(self.done)

    @property
    def failed_pct(self) -> int:
        return self.percent(self.failed + self.skipped)

    @property
    def in_flight_pct(self) -> int:
        return self.percent(self.in_flight)


def progress(deployment_ids: list[int]) -> dict[int, Progress]:
    """Host counts by outcome per deployment: one grouped query on (deployment, status)."""
    result = {pk: Progress() for pk in deployment_ids}
    rows = (
        HostDeployment.objects.filter(deployment_id__in=deployment_ids)
        .values_list("deployment_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for deployment_id, status, n in rows:
        _count(result[deployment_id], status, n)
    return result


def active_deployments(environment_ids: list[int], *, limit: int = 50) -> list[Deployment]:
    return list(
        Deployment.objects.filter(status__in=states.ACTIVE, environment_id__in=environment_ids)
        .select_related("application", "environment", "artifact")
        .order_by("-id")[:limit]
    )


# --- history ------------------------------------------------------------------------------
@dataclass
class Page:
    items: list
    older: int | None  # the `before` cursor of the next (older) page, None at the end
    newer: bool  # not the first page


def deployment_history(*, environment_ids: list[int], application: Application | None = None,
                       environment: Environment | None = None, status: str | None = None,
                       before: int | None = None, size: int = PAGE_SIZE) -> Page:
    """Newest first, by keyset (`before` = an id) so a deep page costs what the first does."""
    rows = Deployment.objects.filter(environment_id__in=environment_ids)
    if application is not None:
        rows = rows.filter(application=application)
    if environment is not None:
        rows = rows.filter(environment=environment)
    if status:
        rows = rows.filter(status=status)
    if before:
        rows = rows.filter(pk__lt=before)
    items = list(rows.select_related("application", "environment", "artifact").order_by("-id")[: size + 1])
    older = items[size - 1].pk if len(items) > size else None
    return Page(items[:size], older, bool(before))


def artifact_placements(application: Application, environment_ids: list[int], *, limit: int = 30):
    """The application's newest artifacts, each with {environment name: hosts pinned to it}."""
    # An application gathers thousands of builds: sort their (pk, epoch, version, release) by a
    # key (comparing EVR objects pairwise cost ~150 ms for 2,000), then load the newest only.
    builds = Artifact.objects.filter(application=application).values_list("pk", "epoch", "version", "release")
    newest = [pk for pk, *evr in sorted(builds, key=lambda b: rpm_sort_key(*b[1:]), reverse=True)[:limit]]
    loaded = Artifact.objects.in_bulk(newest)
    artifacts = [loaded[pk] for pk in newest]
    placed: dict[int, dict[str, int]] = {}
    rows = (
        Pin.objects.filter(application=application, host__environment_id__in=environment_ids)
        .values_list("artifact_id", "host__environment__name", "host__environment__order")
        .annotate(n=Count("id"))
        .order_by("host__environment__order")
    )
    for artifact_id, env_name, _order, n in rows:
        placed.setdefault(artifact_id, {})[env_name] = n
    return [(a, placed.get(a.pk, {})) for a in artifacts]


# --- one deployment -----------------------------------------------------------------------
# Up to this many hosts the grid lists every host; above it, batches where nothing is
# moving or failed fold into one summary row each (a "show all hosts" link unfolds them).
ALL_HOSTS_UP_TO = 200
HOST_COLUMNS = ("id", "batch", "status", "attempt", "round", "error", "host__certname", "puppet", "failed_step")


@dataclass
class BatchSummary:
    number: int  # 0-based
    counts: dict[str, int] = field(default_factory=dict)  # status -> hosts
    folded: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class HostGrid:
    progress: Progress
    batches: list[BatchSummary]
    rows: list[dict]  # the hosts of the unfolded batches, plan order; HOST_COLUMNS

    @property
    def folded(self) -> int:
        return sum(1 for b in self.batches if b.folded)


def host_grid(deployment: Deployment, *, unfold_all: bool = False) -> HostGrid:
    """Progress, per-batch counts, and the rows of the batches worth showing.

    Two queries on the (deployment, …) indexes: hosts counted by (batch, status), then the
    detail columns of the unfolded batches only, so a 1,000-host deployment's live update
    reads and renders a batch or two rather than every host. A failed host's row carries
    the step it failed in (`failed_step`, see failed_step_subquery)."""
    # order_by(): the model's default order (batch, host certname) would join every host and sort.
    statuses = (
        HostDeployment.objects.filter(deployment=deployment)
        .values_list("batch", "status").annotate(n=Count("id")).order_by()
    )
    progress = Progress()
    batches: dict[int, BatchSummary] = {}
    for batch, status, n in statuses:
        _count(progress, status, n)
        summary = batches.setdefault(batch, BatchSummary(batch))
        summary.counts[status] = summary.counts.get(status, 0) + n
    ordered = [batches[n] for n in sorted(batches)]
    fold = not unfold_all and progress.total > ALL_HOSTS_UP_TO
    for summary in ordered:
        busy = any(s not in (states.DONE, states.H_PENDING) for s in summary.counts)
        current = summary.number == deployment.current_batch
        summary.folded = fold and not busy and not current
    shown = [b.number for b in ordered if not b.folded]
    rows = []
    if shown:
        query = HostDeployment.objects.filter(deployment=deployment)
        if len(shown) < len(ordered):
            query = query.filter(batch__in=shown)
        query = query.annotate(failed_step=failed_step_subquery(deployment))
        rows = list(query.order_by("batch", "host__certname").values(*HOST_COLUMNS))
    return HostGrid(progress, ordered, rows)


def _count(p: Progress, status: str, n: int = 1) -> None:
    p.total += n
    if status == states.DONE:
        p.done += n
    elif status == states.H_FAILED:
        p.failed += n
    elif status == states.SKIPPED:
        p.skipped += n
    elif status in states.IN_FLIGHT:
        p.in_flight += n


def failed_step_subquery(deployment: Deployment) -> Case:
    """For a failed host (a HostDeployment row), the step it failed in: the `before` of its
    last `host.fail` Event, looked up on the (object_type, object_id) index for failed rows
    only; None for the others."""
    last_fail = (
        Event.objects.filter(
            object_type="hostdeployment", object_id=Cast(OuterRef("id"), CharField()),
            deployment_id=deployment.pk, verb="host.fail",
        )
        .order_by("-id")
        .values("before")[:1]
    )
    return Case(When(status=states.H_FAILED, then=Subquery(last_fail)), default=None, output_field=CharField())


def timeline(deployment: Deployment, *, limit: int = 30) -> list[Event]:
    """The newest events of the deployment, newest first."""
    return list(Event.objects.filter(deployment_id=deployment.pk).order_by("-id")[:limit])


# --- audit --------------------------------------------------------------------------------
def audit_search(*, user, actor: str = "", verb: str = "", obj: str = "", text: str = "",
                 before: int | None = None, size: int = 50) -> Page:
    """Events newest first. `verb` matches a prefix (`deployment.` finds every deployment
    verb); `obj` is a type (`deployment`) or type:id (`deployment:12`); `text` searches
    actor, verb, object id, before/after and the event's data. Only what `user` may see
    (`audit.selectors.events_visible_to`, which the API's trail uses too)."""
    rows = events_visible_to(user)
    if actor:
        rows = rows.filter(actor=actor)
    if verb:
        rows = rows.filter(verb__startswith=verb)
    if obj:
        object_type, _, object_id = obj.partition(":")
        rows = rows.filter(object_type=object_type)
        if object_id:
            rows = rows.filter(object_id=object_id)
    if text:
        rows = rows.annotate(data_text=Cast("data", TextField())).filter(
            Q(actor__icontains=text) | Q(verb__icontains=text) | Q(object_id=text)
            | Q(before=text) | Q(after=text) | Q(data_text__icontains=text)
        )
    if before:
        rows = rows.filter(pk__lt=before)
    items = list(rows.order_by("-id")[: size + 1])
    older = items[size - 1].pk if len(items) > size else None
    return Page(items[:size], older, bool(before))
