"""Maintenance windows: the weekly times when a connector's device may be changed.

A window is some days of the week and a time range in an IANA time zone, written
``Tue,Thu 22:00-02:00 Europe/Paris``; a connector has any number of them, one a line
(or separated by ``;``), and none means any time. Pure: no I/O, every instant is
passed in (time zone aware) and every instant returned is UTC.

The rules, in one place:

- A window belongs to the day it opens. An end at or before the start crosses
  midnight: ``Tue 22:00-02:00`` is Tuesday 22:00 to Wednesday 02:00. ``24:00`` may end
  a window; equal times (``06:00-06:00``) make 24 hours.
- Local times become instants by the zone's rules on that date. A time that does not
  exist (the spring-forward gap) moves forward to the first instant that does: 02:30
  on the night Paris skips from 02:00 to 03:00 is 03:00 CEST. A time that happens twice
  (the fall-back hour) is its first occurrence (fold=0). So each window has its real
  length: ``Sat 22:00-04:00 Europe/Paris`` lasts 7 h on 2026-10-24 (the clocks go back)
  and 5 h on 2027-03-27 (they go forward), 6 h on other Saturdays.
- Windows that overlap or touch make one stretch: ``Mon 22:00-24:00`` and
  ``Tue 00:00-02:00`` are open like ``Mon 22:00-02:00``. ``window_at`` gives the
  stretch around an instant, ``next_opening`` the start of the next stretch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from data.domain.errors import WindowError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EVERY_DAY = ("daily", "*")
EXAMPLE = "Tue,Thu 22:00-02:00 Europe/Paris"
MAX_WINDOWS = 100
# How far around an instant windows are laid out. Windows repeat weekly, so two weeks
# always hold the next opening, even when a daylight-saving change swallows one.
HORIZON = timedelta(days=15)

_RANGE = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})(?![\d:])")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu"})


@dataclass(frozen=True)
class Window:
    """Weekly days (0 = Monday) and a local time range in an IANA zone.

    ``end`` at or before ``start`` crosses midnight (``time(0)`` is how 24:00 is kept).
    """

    days: tuple[int, ...]
    start: time
    end: time
    zone: str

    def __post_init__(self) -> None:
        if not self.days or any(d not in range(7) for d in self.days):
            raise ValueError(f"window days must be weekday numbers 0..6, not {self.days!r}")
        if tuple(sorted(set(self.days))) != self.days:
            object.__setattr__(self, "days", tuple(sorted(set(self.days))))

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


# ----------------------------------------------------------------------------- parsing


def parse_windows(text: str) -> tuple[Window, ...]:
    """Windows written one a line (or separated by ``;``); blank lines are skipped and
    an empty text means no windows (any time). WindowError names the line and the part
    that is wrong."""
    found: list[Window] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        parts = [p.strip() for p in line.split(";")]
        filled = [p for p in parts if p]
        for index, part in enumerate(filled, start=1):
            where = f"line {number}" if len(filled) == 1 else f"line {number}, window {index}"
            found.append(_parse_window(part, where))
            if len(found) > MAX_WINDOWS:
                raise WindowError(f"at most {MAX_WINDOWS} maintenance windows per connector")
    return tuple(found)


def _parse_window(text: str, where: str) -> Window:
    ranges = list(_RANGE.finditer(text))
    if not ranges:
        raise WindowError(
            f"{where}: no time range in {text[:80]!r}: write days, HH:MM-HH:MM and a time "
            f"zone, e.g. '{EXAMPLE}'"
        )
    if len(ranges) > 1:
        raise WindowError(f"{where}: one time range per window: put the next one on its own line")
    found = ranges[0]
    days_text, zone_text = text[: found.start()].strip(), text[found.end() :].strip()
    if not days_text:
        raise WindowError(
            f"{where}: name the days before the times (Mon, Tue,Thu, Mon-Fri or daily), "
            f"e.g. '{EXAMPLE}'"
        )
    days = _parse_days(days_text, where)
    start = _parse_time(found.group(1), found.group(2), where, end=False)
    end = _parse_time(found.group(3), found.group(4), where, end=True)
    return Window(days, start, end, _parse_zone(zone_text, where))


def _day_number(name: str, where: str) -> int:
    key = name.strip().lower()
    for number, (short, full) in enumerate(zip(DAY_NAMES, _FULL_NAMES, strict=True)):
        if key in (short.lower(), full):
            return number
    raise WindowError(f"{where}: {name.strip()[:40]!r} is not a day (Mon..Sun, or daily)")


def _parse_days(text: str, where: str) -> tuple[int, ...]:
    if text.lower() in _EVERY_DAY:
        return tuple(range(7))
    days: set[int] = set()
    for item in re.split(r"\s*,\s*", text):
        if not item:
            raise WindowError(f"{where}: an empty day in {text[:40]!r} (separate days by commas)")
        if re.search(r"\s", item):
            raise WindowError(
                f"{where}: {item[:40]!r}: separate days by commas (Tue,Thu) and write ranges "
                "with a dash (Mon-Fri)"
            )
        if item.lower() in _EVERY_DAY:
            return tuple(range(7))
        if "-" in item:
            first_name, _, last_name = item.partition("-")
            first, last = _day_number(first_name, where), _day_number(last_name, where)
            span = (last - first) % 7  # Fri-Mon wraps over the weekend
            days.update((first + k) % 7 for k in range(span + 1))
        else:
            days.add(_day_number(item, where))
    return tuple(sorted(days))


def _parse_time(hours: str, minutes: str, where: str, *, end: bool) -> time:
    h, m = int(hours), int(minutes)
    if end and (h, m) == (24, 0):
        return time(0)
    if h > 23 or m > 59:
        limit = "00:00..24:00" if end else "00:00..23:59"
        raise WindowError(f"{where}: {hours}:{minutes} is not a time of day ({limit})")
    return time(h, m)


def _parse_zone(text: str, where: str) -> str:
    if not text:
        raise WindowError(
            f"{where}: give the IANA time zone after the times (Europe/Paris, UTC), "
            f"e.g. '{EXAMPLE}'"
        )
    if re.search(r"\s", text):
        raise WindowError(f"{where}: {text[:60]!r}: one time zone per window, after the times")
    try:
        ZoneInfo(text)
    except (KeyError, ValueError, OSError):  # not found, not a key, a folder like "Europe"
        raise WindowError(
            f"{where}: {text[:60]!r} is not an IANA time zone (e.g. Europe/Paris, "
            "America/New_York, UTC)"
        ) from None
    return text


# ----------------------------------------------------------------------------- text


def _days_text(days: Sequence[int]) -> str:
    if len(days) == 7:
        return "daily"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[d] for d in run)
    return ",".join(parts)


def describe_window(window: Window) -> str:
    """The window as it is written, canonically: ``Mon-Fri 22:00-02:00 Europe/Paris``."""
    end = "24:00" if window.end == time(0) else f"{window.end:%H:%M}"
    return f"{_days_text(window.days)} {window.start:%H:%M}-{end} {window.zone}"


def format_windows(windows: Sequence[Window]) -> str:
    """One window a line, as ``parse_windows`` reads them back ("" for none)."""
    return "\n".join(describe_window(w) for w in windows)


def describe_windows(windows: Sequence[Window]) -> str:
    """On one line, for messages: "Tue,Thu 22:00-02:00 Europe/Paris; …" or "any time"."""
    return "; ".join(describe_window(w) for w in windows) if windows else "any time"


def describe_opening(windows: Sequence[Window], at: datetime) -> str:
    """An opening in the zone of the window that opens then, and in UTC:
    "Tue 2026-12-08 22:00 Europe/Paris (21:00 UTC)"."""
    _aware(at, "at")
    zone = next((w.zone for w in windows if _opens_at(w, at)), None)
    zone = zone or (windows[0].zone if windows else "UTC")
    local = at.astimezone(ZoneInfo(zone))
    text = f"{DAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M} {zone}"
    if zone in _UTC_NAMES:
        return text
    utc = at.astimezone(UTC)
    if utc.date() == local.date():
        return f"{text} ({utc:%H:%M} UTC)"
    return f"{text} ({DAY_NAMES[utc.weekday()]} {utc:%Y-%m-%d %H:%M} UTC)"


def _opens_at(window: Window, at: datetime) -> bool:
    day = at.astimezone(window.tz).date()
    return day.weekday() in window.days and _instant(day, window.start, window.tz) == at


# ----------------------------------------------------------------------------- time


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be time zone aware, got {moment!r}")


def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall time ``at`` on ``day`` in ``tz``: a time in the
    spring-forward gap moves forward to the first instant after the gap; a repeated one
    is its first occurrence."""
    wall = datetime.combine(day, at)
    instant = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    # In a gap, fold=0 reads the wall time with the offset from before the change (an
    # instant after it) and fold=1 with the one from after (an instant before it): the
    # change, the first instant that exists, lies between. Offsets change on whole seconds.
    after = int(instant.timestamp())
    before = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    lo, hi = min(before, after), max(before, after)
    offset = datetime.fromtimestamp(hi, tz).utcoffset()
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            hi = middle
        else:
            lo = middle
    return datetime.fromtimestamp(hi, UTC)


def _occurrences(window: Window, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
    """[opens, closes) of the window for each of its days from ``first`` to ``last``
    (local dates); one that a clock change leaves empty is skipped."""
    tz = window.tz
    day = first
    while day <= last:
        if day.weekday() in window.days:
            opens = _instant(day, window.start, tz)
            end_day = day + timedelta(days=1) if window.crosses_midnight else day
            closes = _instant(end_day, window.end, tz)
            if closes > opens:
                yield opens, closes
        day += timedelta(days=1)


def _stretches(
    windows: Sequence[Window], since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """Every opening from ``since`` to ``until`` (UTC), overlapping or touching ones merged."""
    spans: list[tuple[datetime, datetime]] = []
    for window in windows:
        tz = window.tz
        first = since.astimezone(tz).date() - timedelta(days=1)
        last = until.astimezone(tz).date() + timedelta(days=1)
        spans.extend(_occurrences(window, first, last))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for opens, closes in spans:
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return merged


def window_at(windows: Sequence[Window], t: datetime) -> tuple[datetime, datetime] | None:
    """The open stretch [opens, closes) that contains ``t`` (UTC), or None when ``t`` is
    outside every window (always None without windows: there is nothing to be inside).

    Windows that leave no gap for two weeks (``daily 00:00-24:00``) report a stretch
    ending about two weeks after ``t``: open at least until then.
    """
    _aware(t, "t")
    for opens, closes in _stretches(windows, t - HORIZON, t + HORIZON):
        if opens <= t < closes:
            return opens, closes
        if opens > t:
            break
    return None


def next_opening(windows: Sequence[Window], after: datetime) -> datetime | None:
    """The earliest instant (UTC) strictly after ``after`` at which a window opens, or
    None: without windows (any time is fine), or when the windows never close.

    Inside a window this is the start of the next one, not the current one's: a push
    that does not fit in what is left of this window waits for it.
    """
    _aware(after, "after")
    for opens, _closes in _stretches(windows, after - HORIZON, after + HORIZON):
        if opens > after:
            return opens
    return None


def fits(windows: Sequence[Window], start: datetime, duration: timedelta) -> bool:
    """Whether a push of ``duration`` starting at ``start`` runs inside a window: True
    without windows; else ``start`` must lie in a window still open at ``start +
    duration`` (finishing exactly as it closes fits). The scheduler asks this before a
    push starts, and ``next_opening`` when it does not fit."""
    _aware(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"a push cannot take a negative time ({duration})")
    if not windows:
        return True
    end = start + duration
    for opens, closes in _stretches(windows, start - HORIZON, end + HORIZON):
        if opens <= start < closes:
            return end <= closes
        if opens > start:
            break
    return False
