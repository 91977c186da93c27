"""What applying the files would change: object by object (create, update, delete) and,
for an update, field by field (before → after)."""

import re
from dataclasses import dataclass, field

from orbiter.common.errors import OrbiterError
from orbiter.fleet import specs
from orbiter.fleet.documents import Document, identity_of
from orbiter.fleet.errors import FleetError, Place, Problem, anchored
from orbiter.fleet.schema import DEFINITIONS, KINDS
from orbiter.fleet.state import Current

CREATE, UPDATE, DELETE = "create", "update", "delete"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass
class Desired:
    """kind -> {identity: (spec, place)}, and the kinds the files name (even with an empty list:
    `hosts: []` says "no hosts by hand", which --prune acts on)."""

    objects: dict[str, dict[str, tuple[dict, Place]]] = field(default_factory=dict)
    kinds: set[str] = field(default_factory=set)


@dataclass
class Change:
    kind: str
    key: str
    action: str
    fields: list[tuple[str, object, object]]  # (path, before, after)
    place: Place | None
    before: dict | None
    after: dict | None

    @property
    def path(self) -> str:
        return f"{self.kind}[{self.key}]"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "name": self.key, "action": self.action,
                "source": self.place.source if self.place else None,
                "document": self.place.index if self.place else None,
                "fields": [{"path": path, "before": before, "after": after} for path, before, after in self.fields]}


def collect(documents: list[Document]) -> Desired:
    """The files' objects, normalized; the same object in two places is refused naming both."""
    desired = Desired()
    problems = []
    for document in documents:
        for kind in KINDS:
            if kind not in document.data:
                continue
            desired.kinds.add(kind)
            objects = desired.objects.setdefault(kind, {})
            for item in document.data[kind]:
                try:
                    spec = specs.normalized(kind, item)
                except OrbiterError as error:
                    path = f"{kind}[{identity_of(item)}]"
                    problems.extend(anchored(kind, path, document.place, error).problems)
                    continue
                key = specs.key_of(kind, spec)
                if key in objects:
                    first = objects[key][1]
                    problems.append(Problem(document.place, f"{kind}[{key}]",
                                            f"defined twice: also in {first}; define it once"))
                    continue
                objects[key] = (spec, document.place)
    if problems:
        raise FleetError(problems)
    return desired


def compare(desired: Desired, current: Current, *, prune: bool) -> list[Change]:
    """Creates and updates in the order they are written (each kind may refer to the ones
    before it), then, with prune, deletes in the reverse order."""
    changes = []
    for kind in KINDS:
        have = current.objects.get(kind, {})
        for key, (spec, place) in desired.objects.get(kind, {}).items():
            before = have[key][0] if key in have else None
            if before is None:
                # A new object shows what the file sets: its defaults would only hide it.
                shown = specs.trimmed(DEFINITIONS[kind], spec)
                changes.append(Change(kind, key, CREATE, _fields({}, shown), place, None, spec))
            elif before != spec:
                changes.append(Change(kind, key, UPDATE, _fields(before, spec), place, before, spec))
    if prune:
        for kind in reversed(KINDS):
            if kind not in desired.kinds:
                continue
            wanted = desired.objects.get(kind, {})
            for key, (spec, _) in current.objects.get(kind, {}).items():
                if key not in wanted:
                    changes.append(Change(kind, key, DELETE, [], None, spec, None))
    return changes


def summary(changes: list[Change]) -> dict:
    return {action: sum(1 for c in changes if c.action == action) for action in (CREATE, UPDATE, DELETE)}


def _fields(before: dict, after: dict) -> list[tuple[str, object, object]]:
    old, new = _flat(before), _flat(after)
    return [(path, old.get(path), new.get(path)) for path in sorted(set(old) | set(new), key=_order(new, old))
            if old.get(path) != new.get(path)]


def _order(*flats):
    position = {}
    for flat in flats:
        for path in flat:
            position.setdefault(path, len(position))
    return position.__getitem__


def _flat(value, prefix: str = "") -> dict:
    if isinstance(value, dict) and (value or not prefix):
        out = {}
        for key, item in value.items():
            segment = (f".{key}" if prefix else key) if _PLAIN_KEY.match(str(key)) else f"[{key}]"
            out.update(_flat(item, prefix + segment))
        return out
    return {prefix: value}
