"""How `orbiter inventory` prints sources and a sync's diff: the same lines in local mode
(from the models) and in client mode (from the API's JSON)."""

SHOWN = 20  # certnames listed per kind before "… and N more"


def source_lines(rows: list[dict]) -> list[str]:
    """rows: name, environment, active_hosts, retired_hosts, last_success_at, last_error, enabled."""
    lines = [f"{'name':20} {'environment':14} {'hosts':>6} {'retired':>7} {'last good sync':25} error"]
    for row in rows:
        success = row["last_success_at"] or "never"
        state = "" if row["enabled"] else " (disabled)"
        lines.append(f"{row['name'] + state:20} {row['environment']:14} {row['active_hosts']:>6} "
                     f"{row['retired_hosts']:>7} {success:25} {row['last_error'] or '-'}")
    return lines


def diff_lines(diff: dict) -> list[str]:
    """diff: SyncDiff.as_dict() (or the API's answer)."""
    counts = diff["counts"]
    what = "would change" if diff["dry_run"] else "synced"
    lines = [f"{diff['source']}: {what}: {counts['nodes']} nodes; {counts['created']} new, "
             f"{counts['reactivated']} reactivated, {counts['updated']} updated, {counts['retired']} retired, "
             f"{counts['retire_waiting']} waiting for a deployment to end, {counts['clashes']} clashes, "
             f"{counts['unchanged']} unchanged"]
    for kind, sign in (("created", "+"), ("reactivated", "+"), ("updated", "~"), ("retired", "-"),
                       ("retire_waiting", "-?"), ("clashes", "!")):
        names = diff[kind]
        for name in names[:SHOWN]:
            lines.append(f"  {sign} {kind}: {name}")
        if len(names) > SHOWN:
            lines.append(f"  {sign} {kind}: … and {len(names) - SHOWN} more")
    for warning in diff["warnings"][:SHOWN]:
        lines.append(f"  warning: {warning}")
    return lines
