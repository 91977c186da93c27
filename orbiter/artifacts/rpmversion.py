"""RPM version comparison and NEVRA parsing, written from RPM's documented rules.

``rpmvercmp(a, b)`` compares one VERSION or one RELEASE string and returns -1, 0 or 1:

1. Cut each string into tokens, left to right: a maximal run of ASCII digits, a maximal
   run of ASCII letters, or a single ``~`` or ``^``. Every other character (``.``, ``_``,
   ``+``, non-ASCII...) only separates tokens, so ``1.0 == 1_0`` and ``1a == 1.a``.
2. Walk both token lists in step; a list that has run out counts as "end".
3. ``~`` sorts before anything, even the end: ``1.0~rc1 < 1.0``; two ``~`` match.
4. ``^`` sorts after the end but before any other token: ``1.0 < 1.0^git1 < 1.0.1``.
5. If exactly one side has reached the end, the other (longer) side is newer: ``1.0 < 1.0.1``.
6. A number beats letters: ``a < 1``, ``xyz.4 < 8``.
7. Numbers compare numerically, leading zeros dropped (``1.010 == 1.10``); letters compare
   as ASCII strings (``10a1 < 10b2``, ``a < aa``, upper case before lower case).
8. First difference decides; if none, the strings are equal (``0``).

``EVR`` comparison: epoch numerically, then version, then release with ``rpmvercmp``.
Choice, as in rpm's dependency matching (``Requires: foo = 1.0`` accepts every release of
1.0): when either release is empty, releases are not compared, so ``1.0 == 1.0-3``. (rpm's
``rpm.vercmp("1.0", "1.0-3")`` instead treats the missing release as "" and returns -1.)
Equality is therefore not transitive across release-less EVRs (``1.0-1 == 1.0 == 1.0-2`` but
``1.0-1 < 1.0-2``); ``__hash__`` uses only epoch and version so equal objects hash alike.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from functools import total_ordering

KNOWN_ARCHES = frozenset({"noarch", "x86_64", "aarch64", "i686", "ppc64le", "s390x", "src"})
MAX_EPOCH = 2**32 - 1  # RPM stores the epoch as an unsigned 32-bit integer

_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+|[~^]")
_NAME_CHAR = re.compile(r"[A-Za-z0-9._+-]")
_VR_CHAR = re.compile(r"[A-Za-z0-9._+~^]")
_EPOCH = re.compile(r"[0-9]+")
_NAME_ALLOWED = "ASCII letters, digits and . _ + - (1-200 characters, first a letter or digit)"
_VR_ALLOWED = "ASCII letters, digits and . _ + ~ ^ (1-100 characters, no '-')"


def _tokens(s: str) -> tuple[str, ...]:
    """Steps 1 and 7: the comparable tokens of ``s``, numbers without leading zeros."""
    return tuple((t.lstrip("0") or "0") if t[0].isdigit() else t for t in _TOKEN.findall(s))


def rpmvercmp(a: str, b: str) -> int:
    """Compare two version (or two release) strings: -1 if a < b, 0 if equal, 1 if a > b."""
    ta, tb = _tokens(a), _tokens(b)
    for i in range(max(len(ta), len(tb))):
        x = ta[i] if i < len(ta) else ""  # "" is the end of the string
        y = tb[i] if i < len(tb) else ""
        if x == y:
            continue
        if x == "~" or y == "~":  # step 3
            return -1 if x == "~" else 1
        if x == "^" or y == "^":  # step 4
            if not x or not y:
                return -1 if not x else 1
            return -1 if x == "^" else 1
        if not x or not y:  # step 5
            return -1 if not x else 1
        x_num, y_num = x[0].isdigit(), y[0].isdigit()
        if x_num != y_num:  # step 6
            return 1 if x_num else -1
        kx, ky = ((len(x), x), (len(y), y)) if x_num else ((0, x), (0, y))
        return -1 if kx < ky else 1  # step 7 (x != y here)
    return 0


def _fail(field: str, problem: str, allowed: str) -> ValueError:
    return ValueError(f"{field}: {problem}; allowed: {allowed}")


def _validate(field: str, s: object, max_len: int, char: re.Pattern[str], allowed: str) -> str:
    if not isinstance(s, str):
        raise _fail(field, f"must be a string, got {type(s).__name__}", allowed)
    if not s:
        raise _fail(field, "must not be empty", allowed)
    if len(s) > max_len:
        raise _fail(field, f"is {len(s)} characters long, the maximum is {max_len}", allowed)
    if field != "name" and "-" in s:
        raise _fail(field, f"{s!r} contains '-', which separates version from release", allowed)
    bad = [repr(c) for c in dict.fromkeys(s) if not char.fullmatch(c)]
    if bad:
        raise _fail(field, f"{s!r} contains disallowed character(s) {', '.join(bad)}", allowed)
    if field == "name" and not (s[0].isascii() and s[0].isalnum()):
        raise _fail(field, f"must start with a letter or digit, not {s[0]!r}", allowed)
    return s


def validate_package_name(s: str) -> str:
    """Return ``s`` if it is a valid RPM package name, else raise ``ValueError``."""
    return _validate("name", s, 200, _NAME_CHAR, _NAME_ALLOWED)


def validate_version(s: str) -> str:
    """Return ``s`` if it is a valid RPM VERSION, else raise ``ValueError``."""
    return _validate("version", s, 100, _VR_CHAR, _VR_ALLOWED)


def validate_release(s: str) -> str:
    """Return ``s`` if it is a valid RPM RELEASE, else raise ``ValueError``."""
    return _validate("release", s, 100, _VR_CHAR, _VR_ALLOWED)


def validate_arch(s: str) -> str:
    """Return ``s`` if it is one of ``KNOWN_ARCHES``, else raise ``ValueError``."""
    if not isinstance(s, str) or s not in KNOWN_ARCHES:
        raise _fail("arch", f"{s!r} is not a known architecture", ", ".join(sorted(KNOWN_ARCHES)))
    return s


def _validate_epoch(epoch: object) -> int:
    allowed = f"an integer from 0 to {MAX_EPOCH}"
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
        raise _fail("epoch", f"{epoch!r} is not valid", allowed)
    return epoch


def _parse_epoch(text: str) -> tuple[int, str]:
    """Split an optional ``epoch:`` prefix off ``text``."""
    if ":" not in text:
        return 0, text
    epoch, _, rest = text.partition(":")
    if not _EPOCH.fullmatch(epoch) or len(epoch) > 10:
        raise _fail("epoch", f"{epoch!r} is not a whole number", f"digits, 0 to {MAX_EPOCH}")
    return _validate_epoch(int(epoch)), rest


@total_ordering
@dataclass(frozen=True, order=False)
class EVR:
    """``[epoch:]version[-release]``; ``release == ""`` means "any release" (see module doc)."""

    epoch: int
    version: str
    release: str = ""

    def __post_init__(self) -> None:
        _validate_epoch(self.epoch)
        validate_version(self.version)
        if self.release != "":
            validate_release(self.release)

    @classmethod
    def parse(cls, text: str) -> EVR:
        """Parse ``"1:2.4.1-3"``, ``"2.4.1-3"`` or ``"2.4.1"``; raise ``ValueError`` if invalid."""
        if not isinstance(text, str) or not text:
            raise _fail("evr", f"{text!r} is empty or not a string", "[epoch:]version[-release]")
        epoch, rest = _parse_epoch(text)
        version, dash, release = rest.rpartition("-")
        return cls(epoch, version, validate_release(release)) if dash else cls(epoch, rest)

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{epoch}{self.version}-{self.release}" if self.release else epoch + self.version

    def compare(self, other: EVR) -> int:
        """-1, 0 or 1: epoch, then version, then release (skipped if either is empty)."""
        if not isinstance(other, EVR):
            raise TypeError(f"cannot compare EVR with {type(other).__name__}")
        if self.epoch != other.epoch:
            return -1 if self.epoch < other.epoch else 1
        rc = rpmvercmp(self.version, other.version)
        if rc or not (self.release and other.release):
            return rc
        return rpmvercmp(self.release, other.release)

    def __eq__(self, other: object) -> bool:
        return self.compare(other) == 0 if isinstance(other, EVR) else NotImplemented

    def __hash__(self) -> int:
        return hash((self.epoch, _tokens(self.version)))

    def __lt__(self, other: EVR) -> bool:
        return self.compare(other) < 0 if isinstance(other, EVR) else NotImplemented


@dataclass(frozen=True)
class NEVRA:
    """``name-[epoch:]version-release.arch``, all fields validated.

    Equality is field by field (``1.010`` != ``1.10`` here); compare versions via ``.evr``.
    """

    name: str
    epoch: int
    version: str
    release: str
    arch: str

    def __post_init__(self) -> None:
        validate_package_name(self.name)
        _validate_epoch(self.epoch)
        validate_version(self.version)
        validate_release(self.release)
        validate_arch(self.arch)

    @classmethod
    def parse(cls, text: str) -> NEVRA:
        """Parse ``"shop-api-1:2.4.1-3.el9.x86_64"`` (epoch optional); ``ValueError`` if bad."""
        form = "name-[epoch:]version-release.arch"
        if not isinstance(text, str):
            raise _fail("nevra", f"must be a string, got {type(text).__name__}", form)
        rest, dot, arch = text.rpartition(".")
        if not dot:
            raise _fail("nevra", f"{text!r} has no '.arch' suffix", form)
        rest, dash, release = rest.rpartition("-")
        name, dash2, epoch_version = rest.rpartition("-")
        if not (dash and dash2):
            raise _fail("nevra", f"{text!r} lacks a '-version-release' part", form)
        epoch, version = _parse_epoch(epoch_version)
        return cls(name, epoch, version, release, arch)  # __post_init__ validates the parts

    @property
    def evr(self) -> EVR:
        return EVR(self.epoch, self.version, self.release)

    def __str__(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}"


# RPM order as a sort key: each token of `_tokens` becomes (rank, value), the
# end of the string one more token, so that comparing keys as tuples follows rpmvercmp's
# rules — "~" < end < "^" < letters < numbers; numbers by (length, digits) with leading zeros
# dropped, letters as ASCII. tests/artifacts/test_rpm_sort_key.py checks it agrees with
# EVR.compare. For sorting many builds: one key per artifact instead of pairwise compares.
_END = (1, (0, ""))


@functools.lru_cache(maxsize=50_000)  # a pure function of the string; builds are listed again and again
def _version_key(text: str) -> tuple:
    key = []
    for token in _tokens(text):
        if token == "~":
            key.append((0, (0, "")))
        elif token == "^":
            key.append((2, (0, "")))
        elif token[0].isdigit():
            key.append((4, (len(token), token)))
        else:
            key.append((3, (0, token)))
    key.append(_END)
    return tuple(key)


def rpm_sort_key(epoch: int, version: str, release: str) -> tuple:
    """Sorts artifacts (release always set) as EVR.compare does."""
    return epoch, _version_key(version), _version_key(release)
