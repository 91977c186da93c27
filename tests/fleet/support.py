"""Applying fleet text as a user would, and the example fleet of docs/fleet.md."""

import textwrap
from pathlib import Path

import yaml

from orbiter.fleet import documents
from orbiter.fleet.apply import fleet_apply

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "fleet.yaml"
FILES = Path(__file__).parent / "files"


def apply(text: str, *, actor: str = "ada", prune: bool = False, dry_run: bool = False, source: str = "fleet.yaml"):
    """The outcome's JSON (as the API answers) of applying this YAML text."""
    found = documents.parse_text(textwrap.dedent(text), source)
    return fleet_apply(documents=found, actor=actor, prune=prune, dry_run=dry_run).as_dict()


def example() -> str:
    return EXAMPLE.read_text()


def loaded(text: str) -> list:
    return [d for d in yaml.safe_load_all(textwrap.dedent(text)) if d is not None]


def changed_objects(outcome: dict) -> list[tuple[str, str]]:
    return [(c["action"], f"{c['kind']}[{c['name']}]") for c in outcome["changes"]]
