"""When a watched thing is worth an alert (data/domain/alerts.py), table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from data.domain.alerts import (
    LIVE,
    OFFLINE,
    digest_day_key,
    digest_due_today,
    expiry_alert_due,
    offline_alert_due,
    parse_digest_time,
)
from data.domain.errors import CertpushError
from data.domain.notifications import EventKind, Mode, Relevance, choose_mode
from data.domain.status import Status


@pytest.mark.parametrize(
    ("told", "colour", "due"),
    [
        (None, Status.ORANGE, True),  # first look at a certificate already Orange: told once
        (None, Status.GREEN, False),
        ("green", Status.BLUE, False),
        ("blue", Status.YELLOW, False),
        ("yellow", Status.ORANGE, True),
        ("orange", Status.ORANGE, False),  # stays: not again
        ("orange", Status.RED, True),
        ("red", Status.RED, False),
        ("gray", Status.RED, True),
        ("orange", Status.GRAY, False),
    ],
)
def test_expiry_alert_when_entering_orange_or_red(told, colour, due):
    assert expiry_alert_due(told, colour) is due


@pytest.mark.parametrize(
    ("told", "live", "due"),
    [
        (None, True, False),
        (None, False, True),
        (LIVE, False, True),
        (OFFLINE, False, False),  # still down: told once
        (OFFLINE, True, False),  # back: silent
    ],
)
def test_offline_alert_when_live_turns_silent(told, live, due):
    assert offline_alert_due(told, live) is due


def test_digest_time_and_day():
    assert parse_digest_time("07:00") == time(7, 0)
    assert parse_digest_time(" 18:45 ") == time(18, 45)
    for wrong in ("7", "25:00", "07:60", "seven"):
        with pytest.raises(CertpushError, match="HH:MM"):
            parse_digest_time(wrong)
    at = datetime(2026, 5, 4, 6, 59, tzinfo=UTC)
    assert not digest_due_today(at, time(7, 0))
    assert digest_due_today(at.replace(minute=59, hour=7), time(7, 0))
    assert digest_day_key(at.date()) == "digest-day:2026-05-04"


def test_a_digest_reaches_the_user_it_is_made_for():
    assert choose_mode(EventKind.DIGEST, None, Relevance.NONE) is Mode.NOW
    assert choose_mode(EventKind.EXPIRY_DIGEST, None, Relevance.NONE) is Mode.OFF  # opt-in
