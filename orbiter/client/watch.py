"""Following a deployment until it completes (`--wait`), and the exit code its end deserves.

On a terminal: a rich live display — the progress line, one bar per batch with its hosts'
steps, the latest events. Piped (CI logs): a line when the progress changes, a line when a
batch's hosts move, a line per deployment event; nothing is redrawn.

The server unreachable or failing (refused, timed out, 5xx: a restart of Orbiter's web)
does not end the watch: it asks again with backoff (1 s doubling to 10 s) for up to
ORBITER_WAIT_OUTAGE_SECONDS (default 300) in a row, saying so once; past that it stops
(exit 5), saying that the deployment carries on and how to watch it again.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from orbiter.client import render
from orbiter.client.errors import (
    FAILED,
    INTERRUPTED,
    OK,
    STOPPED,
    TIMED_OUT,
    UNREACHABLE,
    USAGE,
    ClientError,
)
from orbiter.client.http import Api

POLL_SECONDS = 1.0
OUTAGE_SECONDS = 300.0  # ORBITER_WAIT_OUTAGE_SECONDS
FIRST_RETRY_SECONDS, MAX_RETRY_SECONDS = 1.0, 10.0
EVENTS_PAGE = 100
HOSTS_SHOWN = 1000  # per look; beyond that the bars still count every host (from the progress)
LATEST_EVENTS = 6

EXIT_BY_STATUS = {"succeeded": OK, "failed": FAILED, "cancelled": STOPPED, "rejected": STOPPED,
                  "rolled_back": STOPPED}
STEP_STYLE = {"done": "green", "failed": "bold red", "skipped": "yellow", "pending": "dim"}


def exit_code(status: str) -> int:
    return EXIT_BY_STATUS.get(status, OK)


@dataclass
class Snapshot:
    deployment: dict
    hosts: list[dict]
    new_events: list[dict]


@dataclass
class Watcher:
    """Reads the deployment, its hosts (only when the progress moved) and the events not seen yet."""

    api: Api
    deployment_id: int
    _page: int = 1
    _consumed: int = 0
    _progress_key: object = None
    _hosts: list[dict] = field(default_factory=list)

    def look(self) -> Snapshot:
        detail = self.api.get(f"deployments/{self.deployment_id}")
        key = (detail.get("current_batch"), repr(detail.get("progress")))
        if key != self._progress_key:
            self._hosts = list(self.api.pages(f"deployments/{self.deployment_id}/hosts", limit=HOSTS_SHOWN))
            self._progress_key = key
        return Snapshot(detail, self._hosts, self._events())

    def _events(self) -> list[dict]:
        """Events are listed oldest first: read on from where the last look stopped."""
        new = []
        while True:
            data = self.api.get(f"deployments/{self.deployment_id}/events", page=self._page,
                                page_size=EVENTS_PAGE)
            results = data.get("results", [])
            new.extend(results[self._consumed:])
            if len(results) >= EVENTS_PAGE and data.get("next"):
                self._page, self._consumed = self._page + 1, 0
                continue
            self._consumed = len(results)
            return new


def outage_seconds() -> float:
    text = os.environ.get("ORBITER_WAIT_OUTAGE_SECONDS", "").strip()
    if not text:
        return OUTAGE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ClientError(f"ORBITER_WAIT_OUTAGE_SECONDS: {text!r} is not allowed; give seconds, 0 or more, e.g. 300",
                          USAGE)
    return value


@dataclass
class Outage:
    """The server unreachable while watching: since when, and how long to wait before asking again."""

    started: float
    retry_in: float = FIRST_RETRY_SECONDS


def follow(api: Api, deployment_id: int, out: render.Out, *, timeout: float | None,
           sleep: Callable[[float], None] = time.sleep) -> int:
    watcher = Watcher(api, deployment_id)
    patience = outage_seconds()
    display = LiveDisplay(out) if out.terminal else LineDisplay(out)
    deadline = None if timeout is None else time.monotonic() + timeout
    outage: Outage | None = None
    snapshot = None
    try:
        with display:
            while True:
                try:
                    snapshot = watcher.look()
                except ClientError as error:
                    if not error.transient:
                        raise
                    now = time.monotonic()
                    if outage is None:
                        outage = Outage(now)
                        out.note(f"lost contact with the server ({error.message}); deployment #{deployment_id} "
                                 f"carries on there; still watching, for up to {patience:g} s")
                    timed_out = deadline is not None and now >= deadline
                    if now - outage.started >= patience or timed_out:
                        last = render.label(snapshot.deployment) if snapshot else "unknown"
                        out.error(f"stopped watching: the server has been unreachable for {now - outage.started:.0f} s "
                                  f"({error.message}). Deployment #{deployment_id} (last seen: {last}) carries on on "
                                  f"the server; watch it again with: orbiter status {deployment_id} --wait")
                        return TIMED_OUT if timed_out else UNREACHABLE
                    until = outage.started + patience if deadline is None else min(deadline, outage.started + patience)
                    sleep(min(outage.retry_in, max(0.0, until - now)))
                    outage.retry_in = min(outage.retry_in * 2, MAX_RETRY_SECONDS)
                    continue
                if outage is not None:
                    out.note(f"back in contact with the server after {time.monotonic() - outage.started:.0f} s")
                    outage = None
                display.show(snapshot)
                status = snapshot.deployment["status"]
                if status in render.COMPLETED:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    out.error(f"gave up waiting after {timeout:g} s; deployment #{deployment_id} is still "
                              f"{render.label(snapshot.deployment)} and carries on "
                              f"(orbiter status {deployment_id} --wait)")
                    return TIMED_OUT
                left = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
                sleep(left)
    except KeyboardInterrupt:
        out.note(f"stopped waiting; deployment #{deployment_id} carries on (orbiter status {deployment_id})")
        return INTERRUPTED
    final = snapshot.deployment
    if status == "succeeded":
        out.say(render.sentence(final))
    else:
        out.note(render.sentence(final))
    return exit_code(status)


# --- piped: lines -------------------------------------------------------------------------------


class LineDisplay:
    def __init__(self, out: render.Out):
        self.out = out
        self._last_progress = ""
        self._last_batches: dict[int, str] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def show(self, snapshot: Snapshot) -> None:
        for e in snapshot.new_events:
            if e.get("object_type") != "hostdeployment":
                self.out.say(render.event(e))
        line = render.progress(snapshot.deployment)
        if line != self._last_progress:
            self.out.say(f"{datetime.now():%H:%M:%S} {line}")
            self._last_progress = line
        for number, hosts in batches(snapshot).items():
            line = batch_line(number, len(snapshot_batches(snapshot)), hosts)
            if self._last_batches.get(number) != line:
                self.out.say(f"  {line}")
                self._last_batches[number] = line


def batches(snapshot: Snapshot) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for host in snapshot.hosts:
        grouped.setdefault(host["batch"], []).append(host)
    return dict(sorted(grouped.items()))


def snapshot_batches(snapshot: Snapshot) -> range:
    return range(1, max(snapshot.deployment.get("batches") or 0, len(batches(snapshot))) + 1)


def batch_line(number: int, of: int, hosts: list[dict]) -> str:
    """'batch 1/2: 1 of 2 done - shop-api-cert-01 done, shop-api-cert-02 converging'."""
    done = sum(1 for h in hosts if h["status"] == "done")
    steps = ", ".join(f"{h['certname']} {h['status']}" for h in hosts[:8])
    more = f" (+{len(hosts) - 8} more)" if len(hosts) > 8 else ""
    return f"batch {number}/{of}: {done} of {len(hosts)} done - {steps}{more}"


# --- terminal: rich live ------------------------------------------------------------------------


class LiveDisplay:
    def __init__(self, out: render.Out):
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=out.stdout, force_terminal=True, no_color=not out.color, highlight=False)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.events: list[str] = []

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def show(self, snapshot: Snapshot) -> None:
        self.events = [*self.events, *(render.event(e) for e in snapshot.new_events)][-LATEST_EVENTS:]
        self.live.update(view(snapshot, self.events), refresh=True)


def view(snapshot: Snapshot, latest_events: list[str]):
    """The live display's picture: a renderable rich can draw (also used by the tests)."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    d = snapshot.deployment
    parts = [Text(f"{render.what(d)}", style="bold"), Text(render.progress(d))]
    grouped = batches(snapshot)
    if grouped:
        grid = Table.grid(padding=(0, 1))
        for number in snapshot_batches(snapshot):
            hosts = grouped.get(number, [])
            finished = sum(1 for h in hosts if h["status"] in ("done", "failed", "skipped"))
            steps = Text()
            for host in hosts[:12]:
                steps.append(f"{host['certname']} ", style="bold" if host["status"] in render.IN_FLIGHT else "")
                steps.append(f"{host['status']}  ", style=STEP_STYLE.get(host["status"], "cyan"))
            if len(hosts) > 12:
                steps.append(f"+{len(hosts) - 12} more")
            grid.add_row(f"batch {number}", ProgressBar(total=max(len(hosts), 1), completed=finished, width=24),
                         f"{finished}/{len(hosts)}", steps)
        parts.append(grid)
    if latest_events:
        parts.append(Text("latest events", style="bold"))
        parts.extend(Text(f"  {line}") for line in latest_events)
    return Group(*parts)
