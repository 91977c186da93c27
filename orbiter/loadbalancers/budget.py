"""A pool's capacity budget, `Pool.max_unavailable`: how many of its members may be out of
service at once, for any reason. A count ("1", "3") or a percentage of the pool's members
("25%", rounded down, at least 1). Empty means no budget: only the deployment's batch size
limits what it takes out."""

import math
import re

from django.core.exceptions import ValidationError as DjangoValidationError

from orbiter.common.errors import ValidationError

_SPEC = re.compile(r"^(?:(\d{1,6})|(\d{1,3})%)$")
ALLOWED = 'a count of members ("1", "2"...) or a percentage of the pool ("25%"), at least 1 member; empty for no budget'


def parse(value: str) -> tuple[int, bool] | None:
    """"3" -> (3, False); "25%" -> (25, True); "" -> None. Else ValidationError naming the field."""
    if value in ("", None):
        return None
    match = _SPEC.match(value) if isinstance(value, str) else None
    number = int(match.group(1) or match.group(2)) if match else 0
    if not match or number == 0 or (match.group(2) and number > 100):
        raise ValidationError(f"max_unavailable: {value!r} is not allowed; give {ALLOWED}", field="max_unavailable")
    return number, bool(match.group(2))


def limit(value: str, members: int) -> int | None:
    """How many of `members` may be out of service (None: no limit)."""
    spec = parse(value)
    if spec is None:
        return None
    number, percent = spec
    return max(1, math.floor(members * number / 100)) if percent else number


def model_validator(value: str) -> None:
    """Django field validator (forms, admin): the same rule as parse()."""
    try:
        parse(value)
    except ValidationError as error:
        raise DjangoValidationError(error.message) from None
