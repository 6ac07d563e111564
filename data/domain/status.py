"""Certificate status colours: the one table and the one rule.

Badges, graph classes, charts, exports, the CLI and SQL filters all read
``STATUS_TABLE``; nothing else in certpush may spell a status colour.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

DAY = timedelta(days=1)


class Status(enum.StrEnum):
    """Certificate status, highest precedence first (definition order matters)."""

    BLACK = "black"
    RED = "red"
    GRAY = "gray"
    MID_PURPLE = "mid-purple"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"
    GREEN = "green"


@dataclass(frozen=True)
class StatusStyle:
    """How one status looks and what it means, for people and for printers."""

    status: Status
    label: str
    hex: str
    text_hex: str
    meaning: str


STATUS_TABLE: dict[Status, StatusStyle] = {
    s.status: s
    for s in (
        StatusStyle(
            Status.BLACK, "Black", "#1b1b1b", "#ffffff", "The certificate has been revoked."
        ),
        StatusStyle(Status.RED, "Red", "#d62828", "#ffffff", "The certificate has expired."),
        StatusStyle(
            Status.GRAY,
            "Gray",
            "#8d8d8d",
            "#ffffff",
            "Its latest push failed, or the push failed verification.",
        ),
        StatusStyle(
            Status.MID_PURPLE,
            "Mid Purple",
            "#8e5bb5",
            "#ffffff",
            "Manually removed: an endpoint now serves a certificate certpush did not push.",
        ),
        StatusStyle(
            Status.ORANGE, "Orange", "#f77f00", "#000000", "The certificate expires within 10 days."
        ),
        StatusStyle(
            Status.YELLOW, "Yellow", "#f2c900", "#000000", "The certificate expires within 30 days."
        ),
        StatusStyle(
            Status.BLUE, "Blue", "#2f6fde", "#ffffff", "The certificate expires within 90 days."
        ),
        StatusStyle(
            Status.GREEN, "Green", "#2a9d4b", "#ffffff", "The certificate is available and valid."
        ),
    )
}

# Expiry bands: a certificate with at most this many whole days left takes the colour.
EXPIRY_BANDS: tuple[tuple[int, Status], ...] = (
    (10, Status.ORANGE),
    (30, Status.YELLOW),
    (90, Status.BLUE),
)


@dataclass(frozen=True)
class StatusInputs:
    """Everything the colour depends on. Push failure and drift come from later stages."""

    not_after: datetime
    revoked: bool = False
    push_failed: bool = False
    drift: bool = False


def is_expired(not_after: datetime, now: datetime) -> bool:
    """A certificate is valid through its notAfter second (RFC 5280), expired after it."""
    return now > not_after


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days until ``not_after``, rounded down, both instants in UTC."""
    return (not_after - now) // DAY


def classify_certificate(inputs: StatusInputs, now: datetime) -> Status:
    """Apply the precedence Black > Red > Gray > Mid Purple > Orange > Yellow > Blue > Green."""
    if inputs.revoked:
        return Status.BLACK
    if is_expired(inputs.not_after, now):
        return Status.RED
    if inputs.push_failed:
        return Status.GRAY
    if inputs.drift:
        return Status.MID_PURPLE
    left = days_left(inputs.not_after, now)
    for limit, status in EXPIRY_BANDS:
        if left <= limit:
            return status
    return Status.GREEN


def expiry_window(status: Status, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The half-open ``not_after`` interval [low, high) in which an expiry colour applies.

    Lets the query layer turn a colour filter into an indexable range on
    ``not_after`` instead of evaluating the rule row by row.
    """
    if status is Status.RED:
        return None, None  # expired is "not_after < now", see expired_before()
    bounds: list[tuple[Status, datetime]] = [
        (band_status, now + (limit + 1) * DAY) for limit, band_status in EXPIRY_BANDS
    ]
    low: datetime | None = now
    for band_status, high in bounds:
        if band_status is status:
            return low, high
        low = high
    if status is Status.GREEN:
        return low, None
    raise ValueError(f"{status} is not an expiry colour")


def parse_status(text: str) -> Status:
    """Read a colour name as users type it ("mid purple", "Mid-Purple", "grey")."""
    key = text.strip().lower().replace(" ", "-").replace("_", "-")
    if key == "grey":
        key = "gray"
    try:
        return Status(key)
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise ValueError(f"unknown status {text!r}: use one of {names}") from None
