"""When a watched thing is worth an alert: a bound certificate's colour, an agent or a zone
going silent, the day's digest. Pure rules; jobs/notify/watch.py and digest.py look at the
database, ask these, and remember what they told (data.notifications.remember).
"""

from __future__ import annotations

from datetime import date, datetime, time

from data.domain.errors import CertpushError
from data.domain.status import Status

# A bound certificate entering one of these is told as it happens (EXPIRY_ALERT).
ALERT_COLOURS = frozenset({Status.ORANGE, Status.RED})
# The daily expiry digest lists bound certificates of these colours, most urgent first.
DIGEST_COLOURS: tuple[Status, ...] = (Status.RED, Status.ORANGE, Status.YELLOW)

LIVE = "live"
OFFLINE = "offline"


def colour_key(fingerprint: str) -> str:
    return f"cert-colour:{fingerprint}"


def agent_key(name: str) -> str:
    return f"agent:{name}"


def zone_key(name: str) -> str:
    return f"zone:{name}"


def digest_day_key(day: date) -> str:
    return f"digest-day:{day.isoformat()}"


def expiry_alert_due(told: str | None, colour: Status) -> bool:
    """Tell when a certificate *enters* Orange or Red: not while it stays, not for the
    other colours. ``told`` is the colour remembered at the last look (None: never
    looked, so a certificate already Orange when first seen is told once)."""
    return colour in ALERT_COLOURS and told != colour.value


def offline_alert_due(told: str | None, live: bool) -> bool:
    """An agent or zone that was live (or never looked at) and is not any more. Coming
    back is remembered silently, so the next loss alerts again."""
    return not live and told != OFFLINE


def parse_digest_time(text: str) -> time:
    """``HH:MM`` (24-hour), as CERTPUSH_DIGEST_TIME is written."""
    hour, sep, minute = text.strip().partition(":")
    try:
        if not sep:
            raise ValueError
        return time(int(hour), int(minute))
    except ValueError:
        raise CertpushError(
            f"daily digest time {text!r} is not valid: use HH:MM, e.g. 07:00"
        ) from None


def digest_due_today(local_now: datetime, at: time) -> bool:
    """Whether today's digest time has come (a scheduler started after it catches up)."""
    return local_now.time().replace(tzinfo=None) >= at
