"""Maintenance windows (data/domain/windows.py): parsing, crossing midnight, daylight-saving
changes in Europe/Paris, fitting a push, the next opening. Every instant is given: these
tests read no clock and no local zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from data.domain.errors import CertpushError, WindowError
from data.domain.windows import (
    MAX_WINDOWS,
    Window,
    describe_opening,
    describe_window,
    describe_windows,
    fits,
    format_windows,
    next_opening,
    parse_windows,
    window_at,
)


def utc(text: str) -> datetime:
    """'2026-12-08 21:00' as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def span(opens: str, closes: str) -> tuple[datetime, datetime]:
    return utc(opens), utc(closes)


PARIS_TUE_THU = parse_windows("Tue,Thu 22:00-02:00 Europe/Paris")


# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue,Thu 22:00-02:00 Europe/Paris", [Window((1, 3), time(22), time(2), "Europe/Paris")]),
        ("Mon-Fri 09:00-17:30 UTC", [Window((0, 1, 2, 3, 4), time(9), time(17, 30), "UTC")]),
        ("daily 00:00-24:00 UTC", [Window(tuple(range(7)), time(0), time(0), "UTC")]),
        ("* 01:00-02:00 Asia/Tokyo", [Window(tuple(range(7)), time(1), time(2), "Asia/Tokyo")]),
        ("Fri-Mon 23:00-01:00 UTC", [Window((0, 4, 5, 6), time(23), time(1), "UTC")]),
        (
            "monday , Wednesday 9:05 - 10:00 America/New_York",
            [Window((0, 2), time(9, 5), time(10), "America/New_York")],
        ),
        (
            "Mon 01:00-02:00 UTC; Tue 03:00-04:00 UTC\n\n  Sun 22:00-24:00 Europe/Paris  \n",
            [
                Window((0,), time(1), time(2), "UTC"),
                Window((1,), time(3), time(4), "UTC"),
                Window((6,), time(22), time(0), "Europe/Paris"),
            ],
        ),
        ("", []),
        ("  \n ; \n", []),
    ],
)
def test_parse_good(text, expected):
    assert list(parse_windows(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon 22:00-02:00 UTC\nTues 22:00-02:00 UTC", "line 2: 'Tues' is not a day (Mon..Sun"),
        ("Mon-Fry 10:00-11:00 UTC", "line 1: 'Fry' is not a day"),
        ("Mon 25:00-02:00 UTC", "line 1: 25:00 is not a time of day (00:00..23:59)"),
        ("Mon 10:00-10:60 UTC", "line 1: 10:60 is not a time of day (00:00..24:00)"),
        ("Mon 24:00-02:00 UTC", "line 1: 24:00 is not a time of day"),
        ("Mon 22:00-02:00", "line 1: give the IANA time zone after the times"),
        ("Mon 22:00-02:00 Europe/Pariss", "line 1: 'Europe/Pariss' is not an IANA time zone"),
        ("Mon 22:00-02:00 Europe", "'Europe' is not an IANA time zone"),
        ("Mon 22:00-02:00 ../../etc/passwd", "is not an IANA time zone"),
        ("Mon 22:00-02:00 Europe/Paris UTC", "one time zone per window"),
        ("22:00-02:00 UTC", "line 1: name the days before the times"),
        ("Mon 22h-02h UTC", "line 1: no time range in 'Mon 22h-02h UTC'"),
        ("Mon 10:00-11:00 UTC; Mon 10-11 UTC", "line 1, window 2: no time range"),
        ("Mon 10:00-11:00 12:00-13:00 UTC", "one time range per window"),
        ("Mon Tue 10:00-11:00 UTC", "'Mon Tue': separate days by commas"),
        ("Mon,,Tue 10:00-11:00 UTC", "an empty day"),
    ],
)
def test_parse_bad_names_the_line_and_the_part(text, message):
    with pytest.raises(WindowError) as caught:
        parse_windows(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, CertpushError)  # shown to people as it is


def test_too_many_windows_are_refused():
    with pytest.raises(WindowError, match=f"at most {MAX_WINDOWS}"):
        parse_windows("\n".join(["Mon 01:00-02:00 UTC"] * (MAX_WINDOWS + 1)))


def test_format_is_canonical_and_reads_back():
    text = "wed,mon,tue 9:00-17:00 UTC\nFri-Mon 22:00-24:00 Asia/Tokyo\ndaily 06:00-06:00 UTC"
    windows = parse_windows(text)
    assert format_windows(windows) == (
        "Mon-Wed 09:00-17:00 UTC\nMon,Fri-Sun 22:00-24:00 Asia/Tokyo\ndaily 06:00-06:00 UTC"
    )
    assert parse_windows(format_windows(windows)) == windows
    assert describe_window(windows[1]) == "Mon,Fri-Sun 22:00-24:00 Asia/Tokyo"
    assert describe_windows(windows[:2]) == (
        "Mon-Wed 09:00-17:00 UTC; Mon,Fri-Sun 22:00-24:00 Asia/Tokyo"
    )
    assert describe_windows(()) == "any time"
    assert format_windows(()) == ""


# ----------------------------------------------------------------------------- midnight


def test_a_window_crossing_midnight_belongs_to_the_day_it_opens():
    """Tue 22:00-02:00 runs into Wednesday; nothing opens on Monday night."""
    windows = parse_windows("Tue 22:00-02:00 UTC")
    tuesday_night = span("2026-12-08 22:00", "2026-12-09 02:00")
    assert window_at(windows, utc("2026-12-08 22:00")) == tuesday_night
    assert window_at(windows, utc("2026-12-09 01:59:59")) == tuesday_night
    assert window_at(windows, utc("2026-12-09 02:00")) is None  # closes at 02:00
    assert window_at(windows, utc("2026-12-08 21:59:59")) is None
    assert window_at(windows, utc("2026-12-08 01:00")) is None  # Monday night: no window


def test_24_00_and_equal_times():
    assert window_at(parse_windows("Mon 22:00-24:00 UTC"), utc("2026-12-07 23:30")) == span(
        "2026-12-07 22:00", "2026-12-08 00:00"
    )
    assert window_at(parse_windows("Mon 06:00-06:00 UTC"), utc("2026-12-08 05:00")) == span(
        "2026-12-07 06:00", "2026-12-08 06:00"
    )


def test_touching_windows_are_one_stretch():
    windows = parse_windows("Mon 22:00-24:00 UTC\nTue 00:00-02:00 UTC\nTue 01:00-01:30 UTC")
    assert window_at(windows, utc("2026-12-08 01:45")) == span(
        "2026-12-07 22:00", "2026-12-08 02:00"
    )
    assert fits(windows, utc("2026-12-07 23:00"), timedelta(hours=3))
    # Tuesday 00:00 and 01:00 are not openings: the window has been open since Monday 22:00
    assert next_opening(windows, utc("2026-12-07 22:00")) == utc("2026-12-14 22:00")


# ----------------------------------------------------------------------------- Europe/Paris


def test_paris_across_the_october_2026_change():
    """On Sunday 2026-10-25 Paris goes from 03:00 CEST (UTC+2) back to 02:00 CET (UTC+1):
    02:00-03:00 happens twice, and a window spanning the change lasts an hour longer."""
    saturday_late = parse_windows("Sat 22:00-04:00 Europe/Paris")
    assert window_at(saturday_late, utc("2026-10-24 21:00")) == span(
        "2026-10-24 20:00", "2026-10-25 03:00"
    )  # 7 h: 22:00 CEST to 04:00 CET
    assert window_at(saturday_late, utc("2026-10-17 21:00")) == span(
        "2026-10-17 20:00", "2026-10-18 02:00"
    )  # a week before: 6 h, all CEST
    assert window_at(saturday_late, utc("2026-10-31 22:00")) == span(
        "2026-10-31 21:00", "2026-11-01 03:00"
    )  # a week after: 6 h, all CET
    assert fits(saturday_late, utc("2026-10-24 20:00"), timedelta(hours=7))
    assert not fits(saturday_late, utc("2026-10-17 20:00"), timedelta(hours=7))
    # A repeated wall time is its first occurrence: 02:00 is 02:00 CEST (00:00 UTC).
    assert window_at(parse_windows("Sat 22:00-02:00 Europe/Paris"), utc("2026-10-24 23:00")) == (
        span("2026-10-24 20:00", "2026-10-25 00:00")
    )
    assert window_at(parse_windows("Sun 02:30-03:30 Europe/Paris"), utc("2026-10-25 02:00")) == (
        span("2026-10-25 00:30", "2026-10-25 02:30")
    )  # 02:30 CEST to 03:30 CET: 2 h


def test_paris_across_the_march_2027_change():
    """On Sunday 2027-03-28 Paris skips from 02:00 CET (UTC+1) to 03:00 CEST (UTC+2):
    a window spanning the change is an hour shorter, and a time in the gap moves forward
    to 03:00 CEST, the first instant that exists."""
    saturday_late = parse_windows("Sat 22:00-04:00 Europe/Paris")
    assert window_at(saturday_late, utc("2027-03-27 22:00")) == span(
        "2027-03-27 21:00", "2027-03-28 02:00"
    )  # 5 h: 22:00 CET to 04:00 CEST
    assert fits(saturday_late, utc("2027-03-27 21:00"), timedelta(hours=5))
    assert not fits(saturday_late, utc("2027-03-27 21:00"), timedelta(hours=5, seconds=1))
    in_the_gap = parse_windows("Sun 02:30-04:00 Europe/Paris")
    assert window_at(in_the_gap, utc("2027-03-28 01:00")) == span(
        "2027-03-28 01:00", "2027-03-28 02:00"
    )
    assert next_opening(in_the_gap, utc("2027-03-27 12:00")) == utc("2027-03-28 01:00")
    assert describe_opening(in_the_gap, utc("2027-03-28 01:00")) == (
        "Sun 2027-03-28 03:00 Europe/Paris (01:00 UTC)"
    )
    ends_in_the_gap = parse_windows("Sun 01:30-02:30 Europe/Paris")
    assert window_at(ends_in_the_gap, utc("2027-03-28 00:45")) == span(
        "2027-03-28 00:30", "2027-03-28 01:00"
    )  # 01:30 CET to 03:00 CEST: 30 min
    # Entirely in the gap: that Sunday it does not open at all; the week after it does.
    swallowed = parse_windows("Sun 02:00-03:00 Europe/Paris")
    assert window_at(swallowed, utc("2027-03-28 01:00")) is None
    assert next_opening(swallowed, utc("2027-03-27 12:00")) == utc("2027-04-04 00:00")
    assert next_opening(swallowed, utc("2027-03-20 12:00")) == utc("2027-03-21 01:00")


# ----------------------------------------------------------------------------- next opening


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-07 12:00", "2026-12-08 21:00"),  # Monday: Tuesday 22:00 CET
        ("2026-12-08 20:59:59", "2026-12-08 21:00"),
        ("2026-12-08 21:00", "2026-12-10 21:00"),  # at an opening: strictly after it
        ("2026-12-08 23:00", "2026-12-10 21:00"),  # inside: the next window's
        ("2026-12-09 00:59", "2026-12-10 21:00"),
        ("2026-12-11 12:00", "2026-12-15 21:00"),  # Friday: over the weekend
        ("2026-12-13 23:30", "2026-12-15 21:00"),  # Sunday night UTC, Monday in Paris
        ("2026-10-22 12:00", "2026-10-22 20:00"),  # Thursday, still CEST
        ("2026-10-23 12:00", "2026-10-27 21:00"),  # Friday: next Tuesday is CET
        ("2027-03-26 12:00", "2027-03-30 20:00"),  # Friday: next Tuesday is CEST
    ],
)
def test_next_opening_at_any_now(now, expected):
    assert next_opening(PARIS_TUE_THU, utc(now)) == utc(expected)


def test_next_opening_takes_any_zone_and_returns_utc():
    tokyo_now = datetime.fromisoformat("2026-12-08 06:00+09:00")  # Mon 21:00 UTC
    opening = next_opening(PARIS_TUE_THU, tokyo_now)
    assert opening == utc("2026-12-08 21:00") and opening.tzinfo is UTC


def test_the_next_opening_sweep_agrees_with_window_at():
    """From many instants across both changes and three zones: the next opening lies
    ahead, a stretch starts there, and the instant before it is outside every window."""
    windows = parse_windows(
        "Tue,Thu 22:00-02:00 Europe/Paris\nSun 02:30-03:30 Europe/Paris\n"
        "Sat 23:00-01:00 America/New_York\nWed 10:00-10:30 Asia/Kolkata"
    )
    for first in (utc("2026-10-15 00:00"), utc("2027-03-20 00:00")):
        now = first
        while now < first + timedelta(days=21):
            opening = next_opening(windows, now)
            assert opening is not None and now < opening < now + timedelta(days=8), now
            stretch = window_at(windows, opening)
            assert stretch is not None and stretch[0] == opening and stretch[1] > opening
            assert window_at(windows, opening - timedelta(seconds=1)) is None
            inside = window_at(windows, now)
            if inside is not None:
                assert inside[1] <= opening
            now += timedelta(minutes=47)


def test_no_windows_means_any_time_and_always_open_never_opens():
    assert next_opening((), utc("2026-12-08 12:00")) is None
    assert window_at((), utc("2026-12-08 12:00")) is None
    assert fits((), utc("2026-12-08 12:00"), timedelta(days=30))
    always = parse_windows("daily 00:00-24:00 UTC")
    assert next_opening(always, utc("2026-12-08 12:00")) is None
    assert fits(always, utc("2026-12-08 12:00"), timedelta(hours=8))


# ----------------------------------------------------------------------------- fits


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        ("2026-12-08 21:00", timedelta(hours=4), True),  # finishes as the window closes
        ("2026-12-08 21:00", timedelta(hours=4, minutes=1), False),  # overruns it
        ("2026-12-09 00:30", timedelta(minutes=30), True),
        ("2026-12-09 00:30", timedelta(minutes=31), False),
        ("2026-12-09 00:59", timedelta(0), True),
        ("2026-12-08 20:59", timedelta(minutes=5), False),  # starts before it opens
        ("2026-12-09 01:00", timedelta(0), False),  # closed
    ],
)
def test_a_push_fits_only_when_it_finishes_before_the_window_closes(start, duration, expected):
    assert fits(PARIS_TUE_THU, utc(start), duration) is expected


def test_times_must_be_aware_and_durations_not_negative():
    naive = datetime(2026, 12, 8, 21, 0)
    for call in (
        lambda: window_at(PARIS_TUE_THU, naive),
        lambda: next_opening(PARIS_TUE_THU, naive),
        lambda: fits(PARIS_TUE_THU, naive, timedelta(0)),
        lambda: describe_opening(PARIS_TUE_THU, naive),
    ):
        with pytest.raises(ValueError, match="time zone aware"):
            call()
    with pytest.raises(ValueError, match="negative"):
        fits(PARIS_TUE_THU, utc("2026-12-08 21:00"), timedelta(minutes=-1))


# ----------------------------------------------------------------------------- text


def test_describe_opening_in_the_window_zone_and_utc():
    assert describe_opening(PARIS_TUE_THU, utc("2026-12-08 21:00")) == (
        "Tue 2026-12-08 22:00 Europe/Paris (21:00 UTC)"
    )
    tokyo = parse_windows("Tue 02:00-04:00 Asia/Tokyo")
    assert describe_opening(tokyo, utc("2026-12-07 17:00")) == (
        "Tue 2026-12-08 02:00 Asia/Tokyo (Mon 2026-12-07 17:00 UTC)"
    )
    assert describe_opening(parse_windows("Tue 22:00-23:00 UTC"), utc("2026-12-08 22:00")) == (
        "Tue 2026-12-08 22:00 UTC"
    )
    mixed = parse_windows("Mon 10:00-11:00 UTC\nTue 02:00-04:00 Asia/Tokyo")
    assert describe_opening(mixed, utc("2026-12-07 17:00")).endswith(
        "Asia/Tokyo (Mon 2026-12-07 17:00 UTC)"
    )
