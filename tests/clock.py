"""Instants for tests that read the wall clock and show local times.

A ``datetime-local`` field holds a wall-clock time without an offset. On the night a
zone falls back (Berlin's last Sunday of October, New York's first Sunday of November)
one wall-clock hour happens twice, and the field cannot say which one it means: the
browser and ``dashboard.timezones.parse_local`` both take the first. A test that types
a time into such a field must pick one the field can name, or it fails two days a year.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo


def names_one_instant(moment: datetime, zone: tzinfo) -> bool:
    """Whether ``moment``'s wall-clock time in ``zone`` happens only once."""
    local = moment.astimezone(zone)
    twin = local.replace(fold=1 - local.fold)
    return twin.utcoffset() == local.utcoffset()


def typeable_time(start: datetime, *zones: tzinfo) -> datetime:
    """``start`` to the minute (what a ``datetime-local`` field holds), moved on by whole
    hours while its wall-clock time in one of ``zones`` happens twice."""
    moment = start.replace(second=0, microsecond=0)
    while not all(names_one_instant(moment, zone) for zone in zones):
        moment += timedelta(hours=1)
    return moment
