"""Secret references: a channel stores where its secret is, never the secret.

    env:NAME         the environment variable NAME (of the worker that sends)
    file:/abs/path   the file's content, surrounding whitespace stripped

The value is read at each send, so a rotated key takes effect without a restart.
"""

import os
import re
from pathlib import Path

from orbiter.common.errors import DriverError, ValidationError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def validate(field: str, reference: str) -> str:
    """Return `reference` if it is well formed, or raise ValidationError naming `field`."""
    kind, sep, rest = (reference or "").partition(":")
    if sep and kind == "env" and _ENV_NAME.match(rest):
        return reference
    if sep and kind == "file" and rest.startswith("/") and "\x00" not in rest:
        return reference
    raise ValidationError(
        f"{field}: {reference!r} is not a secret reference; allowed: 'env:VARIABLE_NAME' "
        "or 'file:/absolute/path' (the secret itself is never stored)",
        field=field,
    )


def resolve(reference: str) -> str:
    """The secret's value, or a permanent DriverError saying where it was looked for."""
    kind, _, rest = reference.partition(":")
    if kind == "env":
        value = os.environ.get(rest, "").strip()
        if not value:
            raise DriverError(f"secret {reference}: environment variable {rest} is not set", permanent=True)
        return value
    try:
        value = Path(rest).read_text().strip()
    except OSError as error:
        raise DriverError(f"secret {reference}: cannot read ({type(error).__name__})", permanent=True) from None
    if not value:
        raise DriverError(f"secret {reference}: the file is empty", permanent=True)
    return value


def is_available(reference: str) -> bool:
    try:
        resolve(reference)
    except DriverError:
        return False
    return True
