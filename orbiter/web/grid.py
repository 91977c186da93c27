"""The host × step grid of a deployment page, rendered as HTML in plain Python.

The live endpoint redraws it every second for up to thousands of hosts; Django's template
engine costs ~10 µs per variable, which at 1,000 hosts alone would eat the 50 ms budget,
so the rows are built with f-strings over values already escaped here.
"""

from html import escape

from django.utils.safestring import SafeString, mark_safe

from orbiter.deployments import states

STEPS = (states.DRAINING, states.CONVERGING, states.VERIFYING, states.ENABLING)
STEP_TITLES = ("drain", "converge", "verify", "enable")


def step_marks(status: str, failed_step: str | None) -> list[str]:
    """One mark per step: ok, now, fail, skip or '' (not reached)."""
    if status == states.DONE:
        return ["ok"] * len(STEPS)
    if status == states.SKIPPED:
        return ["skip"] * len(STEPS)
    if status in STEPS:
        index = STEPS.index(status)
        return ["ok"] * index + ["now"] + [""] * (len(STEPS) - index - 1)
    if status == states.H_FAILED:
        index = STEPS.index(failed_step) if failed_step in STEPS else 0
        return ["ok"] * index + ["fail"] + [""] * (len(STEPS) - index - 1)
    return [""] * len(STEPS)


_MARK_TEXT = {"ok": "✓", "now": "…", "fail": "✗", "skip": "–", "": ""}


def puppet_summary(puppet: dict | None) -> str:
    if not puppet:
        return ""
    counts = puppet.get("resources") if isinstance(puppet.get("resources"), dict) else puppet
    parts = [f"{counts[key]} {key}" for key in ("changed", "failed") if key in counts]
    if "duration_s" in puppet:
        parts.append(f"{puppet['duration_s']}s")
    elif "exit_code" in puppet:
        parts.append(f"exit {puppet['exit_code']}")
    return ", ".join(parts)


def render_grid(batches, rows: list[dict], detail_url: str) -> SafeString:
    """A `<tbody>` per batch: its heading, then one row per host; a folded batch is its
    heading alone, with its hosts counted by status.

    `batches` are selectors.BatchSummary, `rows` selectors.HOST_COLUMNS; `detail_url` has
    `/0/` where the host deployment id goes (from `reverse`)."""
    by_batch: dict[int, list[dict]] = {}
    for row in rows:
        by_batch.setdefault(row["batch"], []).append(row)
    out: list[str] = []
    for summary in batches:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
        out.append(
            f'<tbody class="batch" data-batch="{summary.number + 1}"><tr class="batch-head"><th colspan="9">'
            f"batch {summary.number + 1}"
            + (f' <span class="muted small">— {summary.total} hosts: {counts}</span>' if summary.folded else "")
            + "</th></tr>"
        )
        for row in by_batch.get(summary.number, ()):
            out.append(_host_row(row, detail_url))
        out.append("</tbody>")
    return mark_safe("".join(out))  # noqa: S308 - every value inside is escaped


def _host_row(row: dict, detail_url: str) -> str:
    status = row["status"]
    marks = step_marks(status, row["failed_step"])
    cells = "".join(f'<td class="step {m}">{_MARK_TEXT[m]}</td>' for m in marks)
    attempt = f"{row['attempt']}" + (f" (round {row['round']})" if row["round"] > 1 else "")
    certname = escape(row["host__certname"])
    url = escape(detail_url.replace("/0/", f"/{row['id']}/"))
    return (
        f'<tr id="hd-{row["id"]}" data-status="{status}">'
        f'<td><a href="{url}" hx-get="{url}" hx-target="#host-detail">{certname}</a></td>'
        f'<td><span class="s s-{status}">{status}</span></td>{cells}'
        f"<td>{attempt}</td><td class=\"muted\">{escape(puppet_summary(row['puppet']))}</td>"
        f'<td class="muted note">{escape(row["error"][:200])}</td></tr>'
    )


def render_timeline(events) -> SafeString:
    """The deployment's newest events as table rows (same reason as the grid: it is redrawn
    every second)."""
    out = []
    for e in events:
        host = e.data.get("host", "") if isinstance(e.data, dict) else ""
        change = f"{escape(e.before)} → {escape(e.after)}" if e.before or e.after else ""
        out.append(
            f'<tr><td class="muted nowrap">{e.created_at:%H:%M:%S}</td><td>{escape(e.actor)}</td>'
            f"<td>{escape(e.verb)}</td><td>{escape(str(host))}</td><td class=\"nowrap\">{change}</td></tr>"
        )
    if not out:
        out.append('<tr><td class="muted">No events yet.</td></tr>')
    return mark_safe("".join(out))  # noqa: S308 - every value inside is escaped
