"""Where in the files a problem is, and the one error apply raises for all of them."""

from dataclasses import dataclass

from orbiter.common.errors import OrbiterError, ValidationError

# A service's field name -> where it is in the format, per kind (the rest are the same).
_FIELD_PATHS = {
    "applications": {"rollout_defaults": "rollout", "strategy": "rollout", "converge_driver": "converge.driver",
                     "converge_options": "converge.options", "health_driver": "health.driver",
                     "health_options": "health.options", "puppet class": "puppet_class"},
    "hosts": {"certname": "name"},
}


@dataclass(frozen=True)
class Place:
    """A document: the file it came from and its position in that file (from 1)."""

    source: str
    index: int

    def __str__(self) -> str:
        return f"{self.source} (document {self.index})"


@dataclass(frozen=True)
class Problem:
    place: Place | None
    path: str  # inside the document: applications[shop-api].rollout.batch_size
    message: str  # what is wrong and what is allowed

    def __str__(self) -> str:
        where = f"{self.place}: " if self.place else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"

    def as_dict(self) -> dict:
        return {"source": self.place.source if self.place else None,
                "document": self.place.index if self.place else None,
                "path": self.path, "message": self.message}


class FleetError(ValidationError):
    """One or more problems in the files; nothing was written. The message is the first
    problem (and how many more); `problems` lists them all, each naming its place."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = str(problems[0])
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, field=problems[0].path or "documents",
                         problems=[p.as_dict() for p in problems])

    @classmethod
    def one(cls, place: Place | None, path: str, message: str) -> "FleetError":
        return cls([Problem(place, path, message)])


def anchored(kind: str, path: str, place: Place | None, error: OrbiterError, *, field: str | None = None,
             strip: str | None = None) -> FleetError:
    """A service's refusal, under the object's path: its field mapped to the format's name, and
    the message without the field it starts with (the path says it)."""
    raw = error.extra.get("field") if field is None else field
    strip = strip if strip is not None else error.extra.get("field")
    message = error.message
    if strip and message.startswith(f"{strip}: "):
        message = message[len(strip) + 2:]
    if raw:
        from orbiter.deployments.strategy import Strategy

        mapped = _FIELD_PATHS.get(kind, {}).get(raw, raw)
        if kind == "applications" and raw in Strategy.__dataclass_fields__:
            mapped = f"rollout.{raw}"
        if kind == "pools" and raw.endswith("_driver"):
            mapped = "driver"
        path = f"{path}.{mapped}"
    return FleetError.one(place, path, message)
