"""The diff and the export as text: Django-free, shared by the local commands and client mode
(which gets the same JSON from the API)."""

import json
from pathlib import Path

import yaml

SIGNS = {"create": "+", "update": "~", "delete": "-"}
MODELINE = "# yaml-language-server: $schema={url}\n"


def diff_lines(outcome: dict) -> list[str]:
    """One line per object ("+ applications[shop-api]"), then one per field ("    rollout.batch_size:
    "1" → "25%""), then the counts."""
    lines = []
    for change in outcome["changes"]:
        lines.append(f"{SIGNS[change['action']]} {change['kind']}[{change['name']}]")
        for field in change["fields"]:
            if change["action"] == "create":
                lines.append(f"    {field['path']}: {_value(field['after'])}")
            else:
                lines.append(f"    {field['path']}: {_value(field['before'])} → {_value(field['after'])}")
    counts = outcome["summary"]
    if not any(counts.values()):
        lines.append("no changes: the catalog is what the files say")
        return lines
    if outcome["applied"]:
        lines.append(f"applied: {counts['create']} created, {counts['update']} updated, {counts['delete']} deleted")
    else:
        lines.append(f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete "
                     "(dry run: nothing changed)")
    return lines


def problem_lines(problems: list[dict]) -> list[str]:
    out = []
    for problem in problems:
        where = f"{problem['source']} (document {problem['document']}): " if problem.get("source") else ""
        path = f"{problem['path']}: " if problem.get("path") else ""
        out.append(f"{where}{path}{problem['message']}")
    return out


def _value(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def as_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def read_files(path: str) -> list[tuple[str, str]]:
    """(name, text) of a file or of a directory's *.yaml and *.yml files, sorted by name."""
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise OSError(f"{path}: no *.yaml or *.yml file in this directory")
    else:
        files = [root]
    return [(str(file), file.read_text(encoding="utf-8")) for file in files]
