"""Reads behind the pages. Each answers with a few indexed queries: the dashboard, the
history and the live endpoint are benchmarked on millions of rows (docs/benchmarks.md)."""

import functools
from dataclasses import dataclass, field

from django.db.models import Count, Q, TextField
from django.db.models.functions import Cast

from orbiter.artifacts.rpmversion import EVR, _tokens
from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Artifact, Environment, Host, Pin
from orbiter.deployments import states
from orbiter.deployments.models import Deployment, HostDeployment

PAGE_SIZE = 25


# --- the dashboard ------------------------------------------------------------------------
@dataclass
class Cell:
    """What one application runs in one environment."""

    hosts: int = 0
    versions: list[tuple[str, int]] = field(default_factory=list)  # (label, hosts), newest first
    drifted: int = 0  # hosts whose agent reports another version than the one pinned

    @property
    def unpinned(self) -> int:
        return self.hosts - sum(n for _, n in self.versions)

    @property
    def mixed(self) -> bool:
        return len(self.versions) > 1 or (bool(self.versions) and self.unpinned > 0)

    @property
    def drift(self) -> bool:
        return self.mixed or self.drifted > 0


def version_matrix(environments: list[Environment]) -> list[tuple[Application, list[Cell]]]:
    """Applications × environments: the pinned versions with their host counts, drift flagged.

    Three grouped queries whatever the fleet's size; only hosts whose agent reported
    packages are read one by one (to compare installed with pinned)."""
    env_ids = [e.pk for e in environments]
    membership = Host.applications.through.objects.filter(host__environment_id__in=env_ids)
    hosts = {
        (row["application_id"], row["host__environment_id"]): row["n"]
        for row in membership.values("application_id", "host__environment_id").annotate(n=Count("id"))
    }
    pins = list(
        Pin.objects.filter(host__environment_id__in=env_ids)
        .values("application_id", "host__environment_id", "artifact_id")
        .annotate(n=Count("id"))
    )
    # Each artifact's EVR (validated on construction: not cheap) and label, once per artifact.
    evrs = {
        pk: EVR(epoch, version, release)
        for pk, epoch, version, release in Artifact.objects.filter(pk__in={p["artifact_id"] for p in pins})
        .values_list("pk", "epoch", "version", "release")
    }
    labels = {pk: str(evr) for pk, evr in evrs.items()}
    drifted: dict[tuple[int, int], int] = {}
    reported = (
        Pin.objects.filter(host__environment_id__in=env_ids, host__facts__has_key="packages")
        .values_list("application_id", "host__environment_id", "application__package", "artifact_id",
                     "host__facts__packages")
    )
    for app_id, env_id, package, artifact_id, packages in reported:
        if isinstance(packages, dict) and package in packages and packages[package] != labels[artifact_id]:
            drifted[(app_id, env_id)] = drifted.get((app_id, env_id), 0) + 1

    cells: dict[tuple[int, int], Cell] = {}
    for key, n in hosts.items():
        cells[key] = Cell(hosts=n, drifted=drifted.get(key, 0))
    for row in pins:
        cell = cells.setdefault((row["application_id"], row["host__environment_id"]), Cell())
        cell.versions.append((row["artifact_id"], row["n"]))
    for cell in cells.values():
        cell.versions = [(labels[pk], n) for pk, n in sorted(cell.versions, key=lambda v: evrs[v[0]], reverse=True)]
    return [
        (app, [cells.get((app.pk, env.pk), Cell()) for env in environments])
        for app in Application.objects.only("id", "name").order_by("name")
    ]


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
        for _ in range(n):
            _count(result[deployment_id], status)
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


# RPM order as a sort key: each token of rpmversion's tokenizer becomes (rank, value), the
# end of the string one more token, so that comparing keys as tuples follows rpmvercmp's
# rules — "~" < end < "^" < letters < numbers; numbers by (length, digits) with leading zeros
# dropped, letters as ASCII. (Belongs beside rpmvercmp; tests/web/test_rpm_sort_key.py checks
# it agrees with EVR.compare.)
_END = (1, (0, ""))


@functools.lru_cache(maxsize=50_000)  # a pure function of the string; builds are listed again and again
def _version_key(text: str) -> tuple:
    key = []
    for token in _tokens(text):
        if token == "~":
            key.append((0, (0, "")))
        elif token == "^":
            key.append((2, (0, "")))
        elif token[0].isdigit():
            key.append((4, (len(token), token)))
        else:
            key.append((3, (0, token)))
    key.append(_END)
    return tuple(key)


def rpm_sort_key(epoch: int, version: str, release: str) -> tuple:
    """Sorts artifacts (release always set) as EVR.compare does."""
    return epoch, _version_key(version), _version_key(release)


# --- one deployment -----------------------------------------------------------------------
# Up to this many hosts the grid lists every host; above it, batches where nothing is
# moving or failed fold into one summary row each (a "show all hosts" link unfolds them).
ALL_HOSTS_UP_TO = 200
HOST_COLUMNS = ("id", "batch", "status", "attempt", "round", "error", "host__certname", "puppet")


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
    rows: list[dict]  # the hosts of the unfolded batches, plan order

    @property
    def folded(self) -> int:
        return sum(1 for b in self.batches if b.folded)


def host_grid(deployment: Deployment, *, unfold_all: bool = False) -> HostGrid:
    """Progress, per-batch counts, and the rows of the batches worth showing.

    Two queries on the (deployment, …) indexes: (batch, status) of every host, then the
    detail columns of the unfolded batches only, so a 1,000-host deployment's live update
    reads and renders a batch or two rather than every host."""
    # order_by(): the model's default order (batch, host certname) would join every host and sort.
    statuses = HostDeployment.objects.filter(deployment=deployment).values_list("batch", "status").order_by()
    progress = Progress()
    batches: dict[int, BatchSummary] = {}
    for batch, status in statuses:
        _count(progress, status)
        summary = batches.setdefault(batch, BatchSummary(batch))
        summary.counts[status] = summary.counts.get(status, 0) + 1
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
        rows = list(query.order_by("batch", "host__certname").values(*HOST_COLUMNS))
    return HostGrid(progress, ordered, rows)


def _count(p: Progress, status: str) -> None:
    p.total += 1
    if status == states.DONE:
        p.done += 1
    elif status == states.H_FAILED:
        p.failed += 1
    elif status == states.SKIPPED:
        p.skipped += 1
    elif status in states.IN_FLIGHT:
        p.in_flight += 1


def failed_steps(deployment: Deployment, host_deployment_ids: list[int]) -> dict[int, str]:
    """For failed hosts, the step they failed in (the `before` of their last `host.fail` Event)."""
    if not host_deployment_ids:
        return {}
    rows = (
        Event.objects.filter(
            deployment_id=deployment.pk, verb="host.fail", object_type="hostdeployment",
            object_id__in=[str(pk) for pk in host_deployment_ids],
        )
        .order_by("id")
        .values_list("object_id", "before")
    )
    return {int(object_id): before for object_id, before in rows}


def timeline(deployment: Deployment, *, limit: int = 30) -> list[Event]:
    """The newest events of the deployment, newest first."""
    return list(Event.objects.filter(deployment_id=deployment.pk).order_by("-id")[:limit])


# --- audit --------------------------------------------------------------------------------
def audit_search(*, actor: str = "", verb: str = "", obj: str = "", text: str = "",
                 before: int | None = None, size: int = 50) -> Page:
    """Events newest first. `verb` matches a prefix (`deployment.` finds every deployment
    verb); `obj` is a type (`deployment`) or type:id (`deployment:12`); `text` searches
    actor, verb, object id, before/after and the event's data."""
    rows = Event.objects.all()
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
