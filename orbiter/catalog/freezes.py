"""Freeze windows: when one is open, and what a valid one looks like.

A `once` window is open from starts_at (included) to ends_at (excluded). A `weekly` window
is open on its weekdays from start_time to end_time, read on the wall clock of its time
zone (so "Friday 18:00 Europe/Paris" follows daylight saving); an end at or before the
start runs into the next day, and start == end is the whole day.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from orbiter.catalog.models import Environment, FreezeWindow
from orbiter.common.errors import ValidationError

DAYS = FreezeWindow.DAYS


@dataclass(frozen=True)
class OpenFreeze:
    window: FreezeWindow
    until: datetime  # when it closes (UTC-aware)

    @property
    def reason(self) -> str:
        return self.window.reason

    def describe(self) -> str:
        return f"frozen until {self.until.astimezone(UTC):%Y-%m-%d %H:%M} UTC: {self.reason}"


def open_at(window: FreezeWindow, now: datetime) -> OpenFreeze | None:
    """The window's current opening at `now`, or None when it is closed."""
    if window.kind == FreezeWindow.ONCE:
        if window.starts_at and window.ends_at and window.starts_at <= now < window.ends_at:
            return OpenFreeze(window, window.ends_at)
        return None
    zone = ZoneInfo(window.timezone)
    local = now.astimezone(zone)
    days = {DAYS.index(d) for d in window.weekdays}
    start, end = window.start_time, window.end_time
    today = local.date()
    overnight = end <= start
    candidates = [today, today - timedelta(days=1)] if overnight else [today]
    for day in candidates:
        if day.weekday() not in days:
            continue
        opened = datetime.combine(day, start, tzinfo=zone)
        closes = datetime.combine(day + timedelta(days=1) if overnight else day, end, tzinfo=zone)
        if opened <= local < closes:
            return OpenFreeze(window, closes.astimezone(UTC))
    return None


def open_freeze(environment: Environment, now: datetime | None = None) -> OpenFreeze | None:
    """The environment's open freeze window that closes last, or None."""
    now = now or timezone.now()
    found = [o for w in environment.freezes.all() if (o := open_at(w, now))]
    return max(found, key=lambda o: o.until) if found else None


def validated(fields: dict) -> dict:
    """The fields of a freeze window, checked; raises ValidationError naming the field."""
    kind = fields.get("kind") or FreezeWindow.ONCE
    if kind not in (FreezeWindow.ONCE, FreezeWindow.WEEKLY):
        raise ValidationError(f"kind: {kind!r}; allowed: once, weekly", field="kind")
    reason = (fields.get("reason") or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationError("reason: say why the environment is frozen (1 to 200 characters)", field="reason")
    out = {"kind": kind, "reason": reason, "starts_at": None, "ends_at": None, "weekdays": [],
           "start_time": None, "end_time": None, "timezone": fields.get("timezone") or "UTC"}
    if kind == FreezeWindow.ONCE:
        starts, ends = fields.get("starts_at"), fields.get("ends_at")
        for name, value in (("starts_at", starts), ("ends_at", ends)):
            if not isinstance(value, datetime) or timezone.is_naive(value):
                raise ValidationError(f"{name}: give a date and time with its offset, e.g. 2026-12-24T18:00:00Z",
                                      field=name)
        if ends <= starts:
            raise ValidationError("ends_at: must be after starts_at", field="ends_at")
        out.update(starts_at=starts, ends_at=ends)
        return out
    weekdays = fields.get("weekdays") or []
    if not isinstance(weekdays, list | tuple) or not weekdays or any(d not in DAYS for d in weekdays):
        raise ValidationError(f"weekdays: give one or more of {', '.join(DAYS)}", field="weekdays")
    for name in ("start_time", "end_time"):
        if not isinstance(fields.get(name), time):
            raise ValidationError(f"{name}: give a wall-clock time, e.g. 18:00", field=name)
    try:
        ZoneInfo(out["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"timezone: {out['timezone']!r} is not an IANA time zone, e.g. Europe/Paris",
                              field="timezone") from None
    out.update(weekdays=sorted(set(weekdays), key=DAYS.index), start_time=fields["start_time"],
               end_time=fields["end_time"])
    return out


def as_dict(window: FreezeWindow) -> dict:
    """For audit Events (before/after) and API output."""
    return {
        "kind": window.kind, "reason": window.reason,
        "starts_at": window.starts_at.isoformat() if window.starts_at else None,
        "ends_at": window.ends_at.isoformat() if window.ends_at else None,
        "weekdays": list(window.weekdays),
        "start_time": window.start_time.strftime("%H:%M") if window.start_time else None,
        "end_time": window.end_time.strftime("%H:%M") if window.end_time else None,
        "timezone": window.timezone,
    }
