"""`orbiter export`: the catalog in the fleet format, each object without the fields that
equal their default. Applying it back changes nothing (tests/fleet/test_round_trip.py)."""

from orbiter.fleet import state
from orbiter.fleet.schema import DEFINITIONS, KINDS
from orbiter.fleet.specs import trimmed


def fleet_export(kinds: list[str] | None = None) -> dict:
    """{kind: [objects]} for the kinds asked (default: all), every kind present even when
    empty, so `apply --prune` of an export manages exactly those kinds."""
    chosen = [kind for kind in KINDS if not kinds or kind in kinds]
    current = state.read(chosen)
    return {kind: [trimmed(DEFINITIONS[kind], spec) for spec, _ in current.objects[kind].values()]
            for kind in chosen}
