"""Report periods: calendar days in a time zone, cut into day or week buckets.

A manager's "Monday" is a Monday where they are, so a period is a range of local
dates and every bucket boundary is local midnight turned into a UTC instant (which
also makes a day 23 or 25 hours long across a daylight-saving change). Weeks are
ISO weeks (Monday to Sunday), clipped to the period.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from data.domain.errors import CertpushError

MAX_DAYS = 3660


class Granularity(enum.StrEnum):
    DAY = "day"
    WEEK = "week"


@dataclass(frozen=True)
class Bucket:
    first: date  # the bucket's label: its first day (a Monday for a whole week)
    last: date  # inclusive
    start: datetime  # UTC instant of local midnight starting ``first``
    end: datetime  # UTC instant of local midnight after ``last``


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name, with a clear error for a wrong one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CertpushError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Paris)"
        ) from None


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive
    tz: ZoneInfo

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise CertpushError(f"the period ends ({self.last}) before it starts ({self.first})")
        if (self.last - self.first).days >= MAX_DAYS:
            raise CertpushError(f"a period is at most {MAX_DAYS} days")

    @classmethod
    def last_days(cls, days: int, now: datetime, tz: ZoneInfo) -> Period:
        """The ``days`` local days ending today (today included)."""
        today = now.astimezone(tz).date()
        return cls(today - timedelta(days=days - 1), today, tz)

    @classmethod
    def week_before(cls, now: datetime, tz: ZoneInfo) -> Period:
        """The whole ISO week (Monday to Sunday) before the one ``now`` falls in."""
        today = now.astimezone(tz).date()
        monday = today - timedelta(days=today.weekday()) - timedelta(days=7)
        return cls(monday, monday + timedelta(days=6), tz)

    @classmethod
    def parse(cls, first: str, last: str, tz: ZoneInfo) -> Period:
        """From ISO dates (YYYY-MM-DD), both inclusive."""
        try:
            return cls(date.fromisoformat(first), date.fromisoformat(last), tz)
        except ValueError:
            raise CertpushError(f"dates must be YYYY-MM-DD (got {first!r} and {last!r})") from None

    @classmethod
    def choose(
        cls, *, first: str | None, last: str | None, days: int | None, now: datetime, tz: ZoneInfo
    ) -> Period:
        """The two ways people pick a period: a range of days, or the last ``days`` days
        (``days`` None: the range is required)."""
        if first or last or days is None:
            if not (first and last):
                raise CertpushError(
                    "give both the first and the last day (YYYY-MM-DD), or a number of days"
                )
            return cls.parse(str(first)[:10], str(last)[:10], tz)
        if not 1 <= days <= MAX_DAYS:
            raise CertpushError(f"the number of days must be between 1 and {MAX_DAYS}")
        return cls.last_days(days, now, tz)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def midnight(self, day: date) -> datetime:
        """Local midnight starting ``day``, as a UTC instant."""
        return datetime.combine(day, time(0), self.tz).astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self.midnight(self.first)

    @property
    def end(self) -> datetime:
        return self.midnight(self.last + timedelta(days=1))

    def default_granularity(self) -> Granularity:
        return Granularity.DAY if self.days <= 31 else Granularity.WEEK

    def buckets(self, granularity: Granularity) -> list[Bucket]:
        """Every day (or week) of the period, empty ones included, in order."""
        out = []
        day = self.first
        while day <= self.last:
            if granularity is Granularity.DAY:
                last = day
            else:
                last = min(self.last, day + timedelta(days=6 - day.weekday()))
            out.append(Bucket(day, last, self.midnight(day), self.midnight(last + timedelta(1))))
            day = last + timedelta(days=1)
        return out

    def label(self) -> str:
        return f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d} ({self.tz.key})"
