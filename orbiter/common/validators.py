"""Strict validation of names coming from users, CI and agents."""

import re

from orbiter.common.errors import ValidationError

_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# DNS name as Puppet certnames use them: labels of letters, digits, hyphens, dots between.
_CERTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def slug(field: str, value: str) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise ValidationError(
            f"{field}: {value!r} is not a valid name; allowed: lowercase letters, digits and '-', "
            "starting with a letter, at most 63 characters",
            field=field,
        )
    return value


def certname(field: str, value: str) -> str:
    if not isinstance(value, str) or not _CERTNAME.match(value):
        raise ValidationError(
            f"{field}: {value!r} is not a valid certname; allowed: a lowercase DNS name "
            "(letters, digits, '-' and '.')",
            field=field,
        )
    return value
