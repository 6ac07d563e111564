"""The browser's time zone on the server: reading a datetime-local field, showing local times.

A ``datetime-local`` input holds a wall-clock time in the browser's zone, with no
offset. The page keeps what the browser reports (its IANA zone name and its current
UTC offset, see assets/certpush.js ``browserTimeZone``) in a store; callbacks turn the
field's value into an aware UTC datetime with it, and show times in that zone and in
UTC side by side. The IANA name is preferred because it knows daylight saving time
for the chosen date; the offset alone is the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INPUT_FORMAT = "%Y-%m-%dT%H:%M"
# IANA names of UTC itself: a browser on UTC reports one of these, and its times are then
# shown once, not as "02:11 UTC (02:11 UTC)".
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})


class LocalTimeError(ValueError):
    """A date-time field value that cannot be read, with a message for the user."""


def browser_zone(data: Mapping[str, Any] | None) -> tzinfo:
    """The zone the browser reported (``{"zone": "Europe/Berlin", "offset": -60}``), else UTC.

    ``offset`` is JavaScript's ``getTimezoneOffset()``: minutes to add to local time to
    get UTC, so Berlin in winter is -60.
    """
    if not data:
        return UTC
    name = data.get("zone")
    if isinstance(name, str) and name in UTC_NAMES:
        return UTC
    if isinstance(name, str) and name and len(name) < 64:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    offset = data.get("offset")
    if isinstance(offset, int | float) and not isinstance(offset, bool) and abs(offset) < 24 * 60:
        if offset == 0:
            return UTC
        return timezone(timedelta(minutes=-int(offset)))
    return UTC


def parse_local(value: str | None, zone: tzinfo) -> datetime | None:
    """A ``datetime-local`` value ("2026-03-01T14:30", seconds optional) as an aware UTC time."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise LocalTimeError(f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def to_local_input(moment: datetime | None, zone: tzinfo) -> str | None:
    """An aware time as the value a ``datetime-local`` field shows in ``zone``."""
    if moment is None:
        return None
    return moment.astimezone(zone).strftime(INPUT_FORMAT)


def zone_name(zone: tzinfo, at: datetime | None = None) -> str:
    """A short name for the zone: "Europe/Berlin", "UTC+02:00" or "UTC"."""
    if zone is UTC:
        return "UTC"
    key = getattr(zone, "key", None)
    if key:
        return key
    return (at or datetime.now(UTC)).astimezone(zone).tzname() or "local time"


def local_and_utc(moment: datetime | None, zone: tzinfo) -> str:
    """ "2026-03-01 15:30 CET (14:30 UTC)"; just the UTC time when the browser is on UTC."""
    if moment is None:
        return ""
    utc = moment.astimezone(UTC)
    local = utc.astimezone(zone)
    if zone is UTC:
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    utc_part = f"{utc:%H:%M} UTC" if local.date() == utc.date() else f"{utc:%Y-%m-%d %H:%M} UTC"
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({utc_part})"
