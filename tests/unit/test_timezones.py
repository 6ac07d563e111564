"""Local times as the browser's zone shows them (dashboard/timezones.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard.timezones import browser_zone, local_and_utc

AT = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["UTC", "Etc/UTC", "Etc/Universal", "Zulu"])
def test_a_browser_on_utc_sees_each_time_once(name):
    assert local_and_utc(AT, browser_zone({"zone": name, "offset": 0})) == "2026-12-03 01:00 UTC"


def test_a_zone_whose_date_differs_from_utc_shows_the_utc_date_too():
    zone = browser_zone({"zone": "America/New_York", "offset": 300})
    assert local_and_utc(AT, zone) == "2026-12-02 20:00 EST (2026-12-03 01:00 UTC)"


def test_the_same_day_shows_the_utc_time_alone():
    zone = browser_zone({"zone": "Europe/Berlin", "offset": -60})
    assert local_and_utc(AT, zone) == "2026-12-03 02:00 CET (01:00 UTC)"


def test_an_unknown_zone_falls_back_to_the_offset():
    zone = browser_zone({"zone": "Mars/Olympus_Mons", "offset": -120})
    assert local_and_utc(AT, zone) == "2026-12-03 03:00 UTC+02:00 (01:00 UTC)"
