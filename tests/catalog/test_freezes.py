"""When a freeze window is open: date ranges, weekly windows on a time zone's wall clock,
windows running past midnight, and the validation of new windows."""

from datetime import UTC, datetime, time

import pytest

from orbiter.catalog import freezes
from orbiter.catalog import services as catalog
from orbiter.catalog.models import FreezeWindow
from orbiter.common.errors import ValidationError


def weekly(days, start, end, tz="UTC") -> FreezeWindow:
    return FreezeWindow(kind="weekly", weekdays=days, start_time=time(*start), end_time=time(*end), timezone=tz,
                        reason="weekly")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# 2026-11-27 is a Friday.
@pytest.mark.parametrize("moment, is_open", [
    (at(2026, 11, 27, 17, 59), False),
    (at(2026, 11, 27, 18, 0), True),
    (at(2026, 11, 28, 5, 59), True),   # Saturday morning: still Friday night's window
    (at(2026, 11, 28, 6, 0), False),
    (at(2026, 11, 28, 19, 0), False),  # Saturday evening: not a listed day
])
def test_a_weekly_window_past_midnight_covers_the_night_after_its_day(moment, is_open):
    window = weekly(["fri"], (18, 0), (6, 0))

    assert (freezes.open_at(window, moment) is not None) == is_open


def test_an_open_weekly_window_says_when_it_closes():
    found = freezes.open_at(weekly(["fri"], (18, 0), (6, 0)), at(2026, 11, 27, 23, 0))

    assert found.until == at(2026, 11, 28, 6, 0)


def test_weekly_windows_follow_the_wall_clock_of_their_time_zone():
    paris = weekly(["mon"], (9, 0), (10, 0), "Europe/Paris")

    # 09:30 in Paris is 08:30 UTC in winter (CET) and 07:30 UTC in summer (CEST).
    assert freezes.open_at(paris, at(2026, 11, 30, 8, 30)) is not None
    assert freezes.open_at(paris, at(2026, 6, 1, 7, 30)) is not None
    assert freezes.open_at(paris, at(2026, 6, 1, 8, 30)) is None


def test_start_equal_to_end_freezes_the_whole_day():
    window = weekly(["sun"], (0, 0), (0, 0))

    assert freezes.open_at(window, at(2026, 11, 29, 0, 0)) is not None
    assert freezes.open_at(window, at(2026, 11, 29, 23, 59)) is not None
    assert freezes.open_at(window, at(2026, 11, 30, 0, 0)) is None


def test_a_date_range_is_open_from_its_start_until_its_end():
    window = FreezeWindow(kind="once", starts_at=at(2026, 12, 24), ends_at=at(2026, 12, 27), reason="xmas")

    assert freezes.open_at(window, at(2026, 12, 23, 23, 59)) is None
    assert freezes.open_at(window, at(2026, 12, 24)).until == at(2026, 12, 27)
    assert freezes.open_at(window, at(2026, 12, 27)) is None


@pytest.mark.django_db
def test_creating_a_window_validates_and_records_it():
    catalog.environment_create(name="production", order=0, actor="root")

    window = catalog.freeze_create(environment="production", actor="root", kind="weekly", reason="weekend",
                                   weekdays=["sun", "sat", "sat"], start_time=time(0), end_time=time(0),
                                   timezone="Europe/Paris")

    assert window.weekdays == ["sat", "sun"]
    with pytest.raises(ValidationError) as refused:
        catalog.freeze_create(environment="production", actor="root", kind="weekly", reason="x",
                              weekdays=["caturday"], start_time=time(0), end_time=time(0))
    assert refused.value.extra == {"field": "weekdays"}
    assert "mon, tue, wed, thu, fri, sat, sun" in refused.value.message
