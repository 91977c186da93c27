"""Tests for orbiter.artifacts.rpmversion: rpmvercmp, EVR, NEVRA and the strict validators.

The comparison table comes from RPM's documented behaviour (rpm-version(7), the ``~``/``^``
operator docs) and the well-known cases of RPM's own rpmvercmp test suite, plus a few cases
derived directly from the rules (leading zeros, empty strings, separators).
"""

import dataclasses
import random
from functools import cmp_to_key

import pytest

from orbiter.artifacts.rpmversion import (
    EVR,
    KNOWN_ARCHES,
    NEVRA,
    rpmvercmp,
    validate_arch,
    validate_package_name,
    validate_release,
    validate_version,
)

_SIGN = {"<": -1, "==": 0, ">": 1}

# (a, relation, b): each row is checked in both directions.
COMPARISONS = [
    # rpm test suite: plain numeric and alphanumeric segments
    ("1.0", "==", "1.0"),
    ("1.0", "<", "2.0"),
    ("2.0.1", "==", "2.0.1"),
    ("2.0", "<", "2.0.1"),
    ("2.0.1a", "==", "2.0.1a"),
    ("2.0.1a", ">", "2.0.1"),
    ("5.5p1", "==", "5.5p1"),
    ("5.5p1", "<", "5.5p2"),
    ("5.5p10", "==", "5.5p10"),
    ("5.5p1", "<", "5.5p10"),
    ("10xyz", "<", "10.1xyz"),
    ("xyz10", "==", "xyz10"),
    ("xyz10", "<", "xyz10.1"),
    ("xyz.4", "==", "xyz.4"),
    ("xyz.4", "<", "8"),
    ("xyz.4", "<", "2"),
    ("5.5p2", "<", "5.6p1"),
    ("5.6p1", "<", "6.5p1"),
    ("6.0.rc1", ">", "6.0"),
    ("10b2", ">", "10a1"),
    ("10a2", "<", "10b2"),
    ("1.0aa", "==", "1.0aa"),
    ("1.0a", "<", "1.0aa"),
    ("10.0001", "==", "10.0001"),
    ("10.0001", "==", "10.1"),
    ("10.0001", "<", "10.0039"),
    ("4.999.9", "<", "5.0"),
    ("20101121", "==", "20101121"),
    ("20101121", "<", "20101122"),
    # rpm test suite: separators are all alike
    ("2_0", "==", "2_0"),
    ("2.0", "==", "2_0"),
    ("a", "==", "a"),
    ("a+", "==", "a+"),
    ("a+", "==", "a_"),
    ("+a", "==", "+a"),
    ("+a", "==", "_a"),
    ("+_", "==", "+_"),
    ("_+", "==", "+_"),
    ("_+", "==", "_"),
    ("+", "==", "_"),
    # rpm test suite: tilde
    ("1.0~rc1", "==", "1.0~rc1"),
    ("1.0~rc1", "<", "1.0"),
    ("1.0~rc1", "<", "1.0~rc2"),
    ("1.0~rc1~git123", "==", "1.0~rc1~git123"),
    ("1.0~rc1~git123", "<", "1.0~rc1"),
    # rpm test suite: caret
    ("1.0^", "==", "1.0^"),
    ("1.0^", ">", "1.0"),
    ("1.0^git1", "==", "1.0^git1"),
    ("1.0^git1", ">", "1.0"),
    ("1.0^git1", "<", "1.0^git2"),
    ("1.0^git1", "<", "1.01"),
    ("1.0^20160101", "==", "1.0^20160101"),
    ("1.0^20160101", "<", "1.0.1"),
    ("1.0^20160101^git1", "==", "1.0^20160101^git1"),
    ("1.0^20160102", ">", "1.0^20160101^git1"),
    # rpm test suite: tilde and caret together
    ("1.0~rc1^git1", "==", "1.0~rc1^git1"),
    ("1.0~rc1^git1", ">", "1.0~rc1"),
    ("1.0^git1~pre", "==", "1.0^git1~pre"),
    ("1.0^git1", ">", "1.0^git1~pre"),
    # documented behaviour
    ("1.0", "<", "1.0.1"),
    ("1.0a", ">", "1.0"),
    ("1.0^git1", "<", "1.0.1"),
    ("2.0", ">", "1.9999"),
    ("1.010", "==", "1.10"),
    ("a", "<", "1"),
    ("1.0", "==", "1_0"),
    ("1a", "==", "1.a"),
    ("4321", ">", "4.3.2.1"),
    ("1.100.z", "==", "1_100z"),
    ("~1", "<", "999"),
    ("1", "<", "999^"),
    # derived from the rules: leading zeros, numbers vs strings, empty strings, edge tokens
    ("1.00", "==", "1.0"),
    ("007", "==", "7"),
    ("0001.2", "<", "1.10"),
    ("9", "<", "10"),
    ("12345678901234567890", "<", "12345678901234567891"),
    ("", "==", ""),
    ("", "<", "0"),
    ("", "<", "a"),
    ("", ">", "~"),
    ("", "<", "^"),
    ("1.0~", "<", "1.0"),
    ("1.0~~", "<", "1.0~"),
    ("1.0.", "==", "1.0"),
    ("1.0^", "<", "1.0a"),
    ("1.0^", "<", "1.0.0"),
    ("1.0", ">", "1.0~rc1^git1"),
    ("1.0^git1~pre", ">", "1.0"),
    ("1.0~rc1", ">", "1.0~beta2"),
    ("A", "<", "a"),
    ("1\u00e92", "==", "1.2"),
]


def _row_id(row: tuple[str, str, str]) -> str:
    a, rel, b = row
    return f"{a or repr(a)} {rel} {b or repr(b)}"


def test_the_comparison_table_has_at_least_sixty_distinct_rows():
    assert len(COMPARISONS) >= 60
    assert len({(a, b) for a, _, b in COMPARISONS}) == len(COMPARISONS)


@pytest.mark.parametrize("row", COMPARISONS, ids=_row_id)
def test_rpmvercmp_matches_rpm_in_both_directions(row):
    a, rel, b = row
    assert rpmvercmp(a, b) == _SIGN[rel]
    assert rpmvercmp(b, a) == -_SIGN[rel]


def _is_version(s: str) -> bool:
    try:
        validate_version(s)
    except ValueError:
        return False
    return True


EQUAL_VERSION_ROWS = [
    r for r in COMPARISONS if r[1] == "==" and _is_version(r[0]) and _is_version(r[2])
]


@pytest.mark.parametrize("row", EQUAL_VERSION_ROWS, ids=_row_id)
def test_versions_that_compare_equal_give_equal_evrs_with_equal_hashes(row):
    a, _, b = row
    left, right = EVR(0, a, "1"), EVR(0, b, "1")
    assert left == right
    assert hash(left) == hash(right)


def test_tilde_sorts_before_the_release_it_precedes():
    assert rpmvercmp("2.0~beta1", "2.0") == -1
    assert rpmvercmp("2.0~beta1", "1.9") == 1


def test_caret_sorts_after_its_base_but_before_the_next_version():
    assert rpmvercmp("2.0", "2.0^20240101git") == -1
    assert rpmvercmp("2.0^20240101git", "2.0.1") == -1


def test_sorting_puts_prereleases_snapshots_and_patches_in_upgrade_order():
    ordered = ["1.0~rc1", "1.0~rc1^git1", "1.0~rc2", "1.0", "1.0^git1", "1.0a", "1.0.1", "1.1"]
    shuffled = ordered[:]
    random.Random(4).shuffle(shuffled)
    assert sorted(shuffled, key=cmp_to_key(rpmvercmp)) == ordered


# --- EVR -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "epoch", "version", "release"),
    [
        ("1:2.4.1-3", 1, "2.4.1", "3"),
        ("2.4.1-3.el9", 0, "2.4.1", "3.el9"),
        ("2.4.1", 0, "2.4.1", ""),
        ("0:1.0~rc1^git1", 0, "1.0~rc1^git1", ""),
        ("4294967295:1-1", 4294967295, "1", "1"),
    ],
)
def test_evr_parse_splits_epoch_version_and_release(text, epoch, version, release):
    evr = EVR.parse(text)
    assert (evr.epoch, evr.version, evr.release) == (epoch, version, release)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1:2.4.1-3", "1:2.4.1-3"), ("0:2.4.1-3", "2.4.1-3"), ("2.4.1", "2.4.1"), ("3:1", "3:1")],
)
def test_evr_str_omits_a_zero_epoch_and_a_missing_release(text, canonical):
    assert str(EVR.parse(text)) == canonical
    assert EVR.parse(str(EVR.parse(text))) == EVR.parse(text)


def test_epoch_wins_over_version_and_release():
    assert EVR.parse("1:1.0-1") > EVR.parse("9.9-9")
    assert EVR.parse("2:0.1") > EVR.parse("1:99")
    assert EVR.parse("10:1") > EVR.parse("9:1")


def test_version_wins_over_release():
    assert EVR.parse("1.1-1") > EVR.parse("1.0-99")


def test_release_breaks_ties_between_equal_versions():
    assert EVR.parse("1.0-2") > EVR.parse("1.0-1")
    assert EVR.parse("1.0-1.el9") < EVR.parse("1.0-1.el10")
    assert EVR.parse("1.0-1") < EVR.parse("1.0-1.1")


def test_missing_epoch_equals_epoch_zero_in_value_and_hash():
    assert EVR.parse("1.0-1") == EVR.parse("0:1.0-1")
    assert hash(EVR.parse("1.0-1")) == hash(EVR.parse("0:1.0-1"))
    assert len({EVR.parse("1.0-1"), EVR.parse("0:1.0-1"), EVR.parse("0:1.00-1")}) == 1


def test_a_missing_release_compares_only_up_to_the_version():
    assert EVR.parse("1.0") == EVR.parse("1.0-5")
    assert hash(EVR.parse("1.0")) == hash(EVR.parse("1.0-5"))
    assert EVR.parse("1.0") < EVR.parse("1.1-1")
    assert EVR.parse("1:1.0") > EVR.parse("1.0-5")


def test_release_less_equality_is_documented_as_not_transitive():
    bare, first, second = EVR.parse("1.0"), EVR.parse("1.0-1"), EVR.parse("1.0-2")
    assert first == bare == second
    assert first < second


def test_every_comparison_operator_goes_through_compare():
    low, high = EVR.parse("1.0-1"), EVR.parse("1.0-2")
    assert low.compare(high) == -1 and high.compare(low) == 1 and low.compare(low) == 0
    assert low < high and low <= high and high > low and high >= low and low != high
    assert low <= EVR.parse("0:1.0-1") and low >= EVR.parse("0:1.0-1")
    assert not (low > high) and not (high <= low)


def test_evr_does_not_compare_equal_to_other_types_and_refuses_ordering_with_them():
    assert EVR.parse("1.0") != "1.0"
    with pytest.raises(TypeError):
        assert EVR.parse("1.0") < "1.1"
    with pytest.raises(TypeError):
        EVR.parse("1.0").compare("1.1")


def test_evr_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EVR.parse("1.0").epoch = 2


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "evr"),
        ("x:1.0", "epoch"),
        (":1.0", "epoch"),
        ("-1:1.0", "epoch"),
        ("99999999999:1.0", "epoch"),
        ("4294967296:1.0", "epoch"),
        ("1:", "version"),
        ("-1", "version"),
        ("1.0-1-2", "version"),
        ("1.0 -1", "version"),
        ("1:2:3", "version"),
        ("1.0-", "release"),
        ("1.0-1/2", "release"),
    ],
)
def test_evr_parse_refuses_bad_input_naming_the_field(text, field):
    with pytest.raises(ValueError, match=rf"^{field}: .+; allowed: "):
        EVR.parse(text)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((-1, "1.0"), "epoch"),
        ((True, "1.0"), "epoch"),
        ((0, "1-0"), "version"),
        ((0, "1", "a b"), "release"),
    ],
)
def test_evr_constructor_validates_its_fields(args, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        EVR(*args)


# --- NEVRA ---------------------------------------------------------------------------


def test_nevra_parse_reads_name_epoch_version_release_and_arch():
    nevra = NEVRA.parse("shop-api-1:2.4.1-3.el9.x86_64")
    assert nevra == NEVRA("shop-api", 1, "2.4.1", "3.el9", "x86_64")


def test_nevra_parse_defaults_a_missing_epoch_to_zero():
    assert NEVRA.parse("shop-api-2.4.1-3.el9.noarch") == NEVRA(
        "shop-api", 0, "2.4.1", "3.el9", "noarch"
    )


@pytest.mark.parametrize(
    "text",
    [
        "shop-api-1:2.4.1-3.el9.x86_64",
        "shop-api-2.4.1-3.el9.noarch",
        "python3.11-pip-23.0-1.el9.noarch",
        "libstdc++-11.4.1-3.el9.x86_64",
        "kernel-5.14.0-427.13.1.el9_4.aarch64",
        "389-ds-base-2.4.5-1.el9.ppc64le",
        "foo-1.0~rc1^git1-0.1.s390x",
        "bar-2.0-1.src",
        "baz-1-1.i686",
    ],
)
def test_nevra_str_round_trips_the_canonical_form(text):
    assert str(NEVRA.parse(text)) == text
    assert NEVRA.parse(str(NEVRA.parse(text))) == NEVRA.parse(text)


def test_nevra_str_drops_a_zero_epoch():
    assert str(NEVRA.parse("shop-api-0:2.4.1-3.el9.x86_64")) == "shop-api-2.4.1-3.el9.x86_64"


def test_nevra_evr_property_gives_a_comparable_evr():
    old = NEVRA.parse("shop-api-2.4.1-3.el9.x86_64")
    new = NEVRA.parse("shop-api-2.4.10-1.el9.x86_64")
    assert old.evr == EVR(0, "2.4.1", "3.el9")
    assert old.evr < new.evr
    assert NEVRA.parse("shop-api-1:1.0-1.x86_64").evr > new.evr


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("shop-api", "nevra"),
        ("shop.x86_64", "nevra"),
        ("shop-1.0.x86_64", "nevra"),
        ("shop-api-2.4.1-3.el9.sparc", "arch"),
        ("shop-api-2.4.1-3.el9.x86_64 ", "arch"),
        ("shop-api-2.4.1-3.el9.", "arch"),
        ("-1.0-1.x86_64", "name"),
        ("shop api-1.0-1.x86_64", "name"),
        ("_shop-1.0-1.x86_64", "name"),
        ("shop-x:1.0-1.noarch", "epoch"),
        ("shop-1:2:3-1.noarch", "version"),
        ("shop-1.0-.noarch", "release"),
    ],
)
def test_nevra_parse_refuses_bad_input_naming_the_field(text, field):
    with pytest.raises(ValueError, match=rf"^{field}: .+; allowed: "):
        NEVRA.parse(text)


def test_nevra_unknown_arch_message_lists_the_known_arches():
    with pytest.raises(ValueError) as excinfo:
        NEVRA.parse("shop-api-2.4.1-3.el9.sparc")
    assert all(arch in str(excinfo.value) for arch in KNOWN_ARCHES)


def test_nevra_constructor_requires_a_release():
    with pytest.raises(ValueError, match=r"^release: must not be empty"):
        NEVRA("shop", 0, "1.0", "", "noarch")


# --- validators ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("validator", "value"),
    [
        (validate_package_name, "shop-api"),
        (validate_package_name, "389-ds-base"),
        (validate_package_name, "a._+-b"),
        (validate_package_name, "n" * 200),
        (validate_version, "1.0~rc1^git1+build_2"),
        (validate_version, "v" * 100),
        (validate_release, "3.el9_4"),
        (validate_arch, "noarch"),
    ],
)
def test_validators_return_valid_values_unchanged(validator, value):
    assert validator(value) == value


@pytest.mark.parametrize(
    ("validator", "value", "field", "problem"),
    [
        (validate_package_name, "", "name", "must not be empty"),
        (validate_package_name, "-foo", "name", "must start with a letter or digit"),
        (validate_package_name, ".foo", "name", "must start with a letter or digit"),
        (validate_package_name, "foo bar", "name", "disallowed character(s) ' '"),
        (validate_package_name, "foo/bar:baz", "name", "disallowed character(s) '/', ':'"),
        (validate_package_name, "f\u00f6o", "name", "disallowed character(s)"),
        (validate_package_name, "n" * 201, "name", "maximum is 200"),
        (validate_package_name, 123, "name", "must be a string"),
        (validate_version, "", "version", "must not be empty"),
        (validate_version, "1.0-1", "version", "contains '-'"),
        (validate_version, "1.0 ", "version", "disallowed character(s) ' '"),
        (validate_version, "1:0", "version", "disallowed character(s) ':'"),
        (validate_version, "1,0", "version", "disallowed character(s) ','"),
        (validate_version, "1\u00e9", "version", "disallowed character(s)"),
        (validate_version, "1" * 101, "version", "maximum is 100"),
        (validate_version, None, "version", "must be a string"),
        (validate_release, "", "release", "must not be empty"),
        (validate_release, "1-2", "release", "contains '-'"),
        (validate_release, "3 el9", "release", "disallowed character(s) ' '"),
        (validate_release, "3/el9", "release", "disallowed character(s) '/'"),
        (validate_release, "r" * 101, "release", "maximum is 100"),
        (validate_arch, "sparc", "arch", "not a known architecture"),
        (validate_arch, "X86_64", "arch", "not a known architecture"),
        (validate_arch, "", "arch", "not a known architecture"),
    ],
)
def test_validators_refuse_bad_values_naming_the_field_the_problem_and_what_is_allowed(
    validator, value, field, problem
):
    with pytest.raises(ValueError) as excinfo:
        validator(value)
    message = str(excinfo.value)
    assert message.startswith(f"{field}: ")
    assert problem in message
    assert "; allowed: " in message
