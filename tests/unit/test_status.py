"""The colour rule at every boundary, and its precedence (DESIGN.md, "Status colours")."""

from datetime import UTC, datetime, timedelta

import pytest

from data.domain.status import (
    STATUS_TABLE,
    Status,
    StatusInputs,
    classify_certificate,
    days_left,
    expiry_window,
    parse_status,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
D = timedelta(days=1)
S = timedelta(seconds=1)


def colour(delta: timedelta, **flags) -> Status:
    return classify_certificate(StatusInputs(not_after=NOW + delta, **flags), NOW)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (400 * D, Status.GREEN),
        (91 * D, Status.GREEN),
        (91 * D - S, Status.BLUE),  # 90 whole days and change: within 90 days
        (90 * D, Status.BLUE),  # exactly 90
        (31 * D, Status.BLUE),
        (31 * D - S, Status.YELLOW),
        (30 * D, Status.YELLOW),  # exactly 30
        (11 * D, Status.YELLOW),
        (11 * D - S, Status.ORANGE),
        (10 * D, Status.ORANGE),  # exactly 10
        (1 * D, Status.ORANGE),
        (0 * D, Status.ORANGE),  # expires this very second: still valid (RFC 5280)
        (-S, Status.RED),  # expired by one second
        (-400 * D, Status.RED),
    ],
)
def test_expiry_boundaries(delta, expected):
    assert colour(delta) is expected


@pytest.mark.clock  # the last line uses the process's local zone (TZ) and its offset today
def test_days_left_rounds_down_in_utc():
    assert days_left(NOW + 10 * D + 23 * timedelta(hours=1), NOW) == 10
    assert days_left(NOW + 10 * D, NOW) == 10
    assert days_left(NOW - S, NOW) == -1
    other_zone = NOW.astimezone(datetime.now().astimezone().tzinfo)
    assert days_left(NOW + 5 * D, other_zone) == 5


@pytest.mark.parametrize(
    ("flags", "delta", "expected"),
    [
        ({"revoked": True}, -D, Status.BLACK),  # revoked + expired -> black
        ({"revoked": True, "push_failed": True, "drift": True}, 5 * D, Status.BLACK),
        ({"push_failed": True}, -D, Status.RED),  # expired beats a failed push
        ({"push_failed": True, "drift": True}, 5 * D, Status.GRAY),
        ({"push_failed": True}, 400 * D, Status.GRAY),
        ({"drift": True}, 5 * D, Status.MID_PURPLE),  # drift beats orange
        ({"drift": True}, 400 * D, Status.MID_PURPLE),
        ({"drift": True}, -D, Status.RED),
    ],
)
def test_precedence(flags, delta, expected):
    assert colour(delta, **flags) is expected


def test_table_lists_every_status_in_precedence_order():
    assert list(STATUS_TABLE) == list(Status)
    assert [s.label for s in STATUS_TABLE.values()] == [
        "Black", "Red", "Gray", "Mid Purple", "Orange", "Yellow", "Blue", "Green",
    ]  # fmt: skip
    assert len({s.hex for s in STATUS_TABLE.values()}) == 8


@pytest.mark.parametrize("status", [Status.ORANGE, Status.YELLOW, Status.BLUE, Status.GREEN])
def test_expiry_window_agrees_with_the_rule(status):
    low, high = expiry_window(status, NOW)
    inside = [low, low + S] + ([high - S] if high else [low + 1000 * D])
    for not_after in inside:
        assert classify_certificate(StatusInputs(not_after=not_after), NOW) is status
    if high is not None:
        assert classify_certificate(StatusInputs(not_after=high), NOW) is not status


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Mid Purple", Status.MID_PURPLE), ("mid-purple", Status.MID_PURPLE), ("grey", Status.GRAY)],
)
def test_parse_status(text, expected):
    assert parse_status(text) is expected


def test_parse_status_rejects_unknown_with_the_valid_names():
    with pytest.raises(ValueError, match="green"):
        parse_status("purple")
