"""What client mode prints: sentences and tables for people (rich tables on a terminal, plain
columns when piped, one record a line), JSON for scripts (--json). Input is the API's JSON."""

import io
import json
import shutil
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime

COMPLETED = frozenset({"succeeded", "failed", "cancelled", "rejected", "rolled_back"})
IN_FLIGHT = ("draining", "converging", "verifying", "enabling")


class Out:
    """stdout and stderr, and whether stdout is a terminal (rich) or a pipe (plain)."""

    def __init__(self, stdout=None, stderr=None, *, color: bool = True):
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.terminal = self.stdout.isatty()
        self.color = color

    def say(self, line: str = "") -> None:
        print(line, file=self.stdout, flush=True)

    def error(self, message: str) -> None:
        print(f"error: {message}", file=self.stderr, flush=True)

    def note(self, message: str) -> None:
        print(message, file=self.stderr, flush=True)

    def json(self, data) -> None:
        print(json.dumps(data, indent=2), file=self.stdout, flush=True)

    def table(self, headers: Sequence[str], rows: Iterable[Sequence]) -> None:
        self.stdout.write(table(headers, rows, terminal=self.terminal, color=self.color))
        self.stdout.flush()


def table(headers: Sequence[str], rows: Iterable[Sequence], *, terminal: bool, color: bool = True) -> str:
    rows = [[_cell(value) for value in row] for row in rows]
    if terminal:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        buffer = io.StringIO()
        width = shutil.get_terminal_size((120, 24)).columns
        console = Console(file=buffer, force_terminal=True, width=width, highlight=False, no_color=not color)
        drawn = Table(*headers, box=box.SIMPLE_HEAD)
        for row in rows:
            drawn.add_row(*[value if value != "-" else "" for value in row])
        console.print(drawn)
        return buffer.getvalue()
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
             for row in [list(headers), *rows]]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    return " ".join(str(value).split())


# --- deployments --------------------------------------------------------------------------------


def label(d: dict) -> str:
    if d.get("cancel_requested") and d["status"] in ("running", "paused"):
        return "cancelling"
    return d["status"]


def what(d: dict) -> str:
    return f"{d['application']} {d['version']} to {d['environment']}"


def sentence(d: dict) -> str:
    """'deployment #5 paused: paused by alice' — its status and the server's message."""
    shown = label(d)
    message = " ".join((d.get("message") or "").split())
    if not message or message in (shown, d["status"]):
        return f"deployment #{d['id']} {shown}"
    if message.startswith((shown, d["status"])):
        return f"deployment #{d['id']} {message}"
    return f"deployment #{d['id']} {shown}: {message}"


def approvals(d: dict) -> str:
    found = d.get("approvals") or {}
    needed, given = found.get("needed", 0), found.get("approvers", [])
    if not needed:
        return ""
    return f"{len(given)} of {needed} approval(s)" + (f" ({', '.join(given)})" if given else "")


def progress(d: dict) -> str:
    """One line: status, batch k/n, done / in flight / failed, message."""
    parts = []
    if d.get("batches"):
        parts.append(f"batch {max(d.get('current_batch', -1) + 1, 0)}/{d['batches']}")
    counts = (d.get("progress") or {}).get("by_status") or {}
    if counts:
        inflight = sum(counts.get(s, 0) for s in IN_FLIGHT)
        parts.append(f"{counts.get('done', 0)} done, {inflight} in flight, {counts.get('failed', 0)} failed")
        if counts.get("skipped"):
            parts.append(f"{counts['skipped']} skipped")
    if d["status"] == "awaiting_approval" and approvals(d):
        parts.append(approvals(d))
    line = f"#{d['id']} {label(d)}"
    if parts:
        line += ": " + ", ".join(parts)
    message = " ".join((d.get("message") or "").split())
    if message and message not in (label(d), d["status"]):
        line += f" - {message}"
    return line


def when(text: str | None) -> str:
    """An API timestamp as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def deployment(out: Out, d: dict, hosts: list[dict]) -> None:
    rows = [("deployment", f"#{d['id']} {what(d)}"), ("status", progress(d).split(" ", 1)[1]),
            ("requested by", f"{d['requested_by']} at {when(d['created_at'])}")]
    if d.get("comment"):
        rows.append(("comment", d["comment"]))
    if approvals(d):
        rows.append(("approvals", approvals(d)))
    if d.get("is_rollback") and d.get("rollback_of"):
        rows.append(("rollback of", f"#{d['rollback_of']}"))
    if d.get("queued_behind") and d["status"] == "queued":
        rows.append(("queued behind", f"#{d['queued_behind']}"))
    if d.get("strategy"):
        rows.append(("strategy", describe_strategy(d["strategy"])))
    for key, name in (("started_at", "started"), ("finished_at", "finished")):
        if d.get(key):
            rows.append((name, when(d[key])))
    if d.get("allowed_actions"):
        rows.append(("you may", ", ".join(d["allowed_actions"])))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out.say(f"{name.ljust(width)}  {' '.join(str(value).split())}")
    out.say()
    if not hosts:
        out.say("no hosts yet: they are chosen when the deployment starts")
        return
    out.table(("batch", "host", "step", "attempt", "error"),
              [(h["batch"], h["certname"], h["status"], h["attempt"], h.get("error")) for h in hosts])


def history(out: Out, deployments: list[dict]) -> None:
    if not deployments:
        out.say("no deployments found")
        return
    out.table(("id", "app", "version", "env", "status", "requested by", "created", "message"),
              [(d["id"], d["application"], d["version"], d["environment"], label(d), d["requested_by"],
                when(d["created_at"]), d.get("message")) for d in deployments])


# --- plans --------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """75 -> 'about 1 min 15 s'."""
    total = round(seconds)
    if total < 1:
        return "under 1 s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if secs and not hours:
        parts.append(f"{secs} s")
    return "about " + " ".join(parts)


def describe_strategy(strategy: dict) -> str:
    parts = [f"batch size {strategy.get('batch_size')}"]
    if strategy.get("canary"):
        parts.append("canary host first" + (", then pause until resumed" if strategy.get("canary_pause") else ""))
    pause = str(strategy.get("pause_between_batches", "0"))
    if pause == "until-resumed":
        parts.append("pause between batches until resumed")
    elif pause != "0":
        parts.append(f"pause {pause} s between batches")
    parts.append(f"failure budget {strategy.get('failure_budget')}")
    parts.append(f"max attempts {strategy.get('max_attempts')}")
    if strategy.get("auto_rollback"):
        parts.append("automatic rollback")
    return ", ".join(parts)


def plan(out: Out, p: dict) -> None:
    batches = p.get("batches") or []
    hosts = sum(len(b["hosts"]) for b in batches)
    out.say(f"plan: {p['application']} {p['version']} to {p['environment']}, "
            f"{hosts} host(s) in {len(batches)} batch(es)")
    out.say(f"strategy: {describe_strategy(p.get('strategy') or {})}")
    for batch in batches:
        out.say()
        out.say(f"batch {batch['number']} of {len(batches)}: {len(batch['hosts'])} host(s), "
                f"{human_duration(batch['eta_s'])}")
        for certname in batch["hosts"]:
            out.say(f"  host {certname}")
        for action in batch["lb_actions"]:
            out.say(f"  load balancer: {action}")
        if not batch["lb_actions"]:
            out.say("  load balancer: nothing to drain (no pool members)")
    out.say()
    out.say(f"ETA: {human_duration(p.get('eta_s') or 0)}")
    if p.get("needs_approval"):
        out.say(f"needs approval: {p['environment']} requires someone other than the requester to approve")
    if p.get("waits_for"):
        out.say(p["waits_for"])


# --- events -------------------------------------------------------------------------------------


def event(e: dict) -> str:
    """'10:42:07 shop-api-cert-01 converging -> verifying (engine)'."""
    moment = e.get("created_at") or ""
    try:
        clock = f"{datetime.fromisoformat(moment.replace('Z', '+00:00')):%H:%M:%S}"
    except ValueError:
        clock = moment
    data = e.get("data") or {}
    subject = str(data["host"]) if e.get("object_type") == "hostdeployment" and data.get("host") else \
        f"deployment #{e.get('deployment_id') or e.get('object_id')}"
    if e.get("before") and e.get("after") and e["before"] != e["after"]:
        change = f"{e['before']} -> {e['after']}"
    else:
        change = str(e.get("verb", "")).split(".", 1)[-1].replace("_", " ")
    return f"{clock} {subject} {change} ({e.get('actor') or 'orbiter'})"
