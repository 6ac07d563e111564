"""What a push came to, for reports: verified, failed verification, push failed, pending.

The rule is defined once, here, as an ordered table; ``validation_of`` applies it to
one work order in Python and ``data/reports.py`` turns the same table into one SQL
CASE so that periods of 100,000 pushes are counted by the database, not in memory.

- The verification right after a push decides it (``work_orders.verification``, set
  once and never overwritten; jobs/workorders.py, or for pushes recorded without one,
  the first sweep after them through ``push_verdict``): verified when every endpoint
  served the expected certificate, failed when any did not (rolled back or not).
- A push that did not install (failed, or interrupted by a stopped scheduler) is a
  failure too, of another kind: no sweep judges a push that never happened.
- Anything else that was pushed is pending: not yet swept, never a failure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from data.domain.status import STATUS_TABLE, Status
from data.domain.workflow import request_id, work_order_id


class PushValidation(enum.StrEnum):
    VERIFIED = "verified"
    FAILED_VERIFICATION = "failed_verification"
    PUSH_FAILED = "push_failed"
    PENDING = "pending"


@dataclass(frozen=True)
class Rule:
    """``state`` applies when the work order's ``column`` equals ``value``."""

    column: str  # a column of work_orders: "verification" or "status"
    value: str
    state: PushValidation


# First match wins. The verdict comes first: a push that installed and was swept is
# judged by the sweep whatever happened to the work order afterwards.
RULES: tuple[Rule, ...] = (
    Rule("verification", "verified", PushValidation.VERIFIED),
    Rule("verification", "failed", PushValidation.FAILED_VERIFICATION),
    Rule("status", "Failed", PushValidation.PUSH_FAILED),
)
OTHERWISE = PushValidation.PENDING


def validation_of(status: str, verification: str | None) -> PushValidation:
    """The state of one push (a work order whose push has ended)."""
    row = {"status": status, "verification": verification}
    for rule in RULES:
        if row[rule.column] == rule.value:
            return rule.state
    return OTHERWISE


def success_rate(verified: int, failed_verification: int, push_failed: int) -> float | None:
    """Verified share of the decided pushes (pending ones are not decided); None: none."""
    decided = verified + failed_verification + push_failed
    return verified / decided if decided else None


def human_duration(seconds: float | None, missing: str = "—") -> str:
    """A median time as people read it: "42 s", "12 min", "1 h 15 min", "3 d 4 h"."""
    if seconds is None:
        return missing
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True)
class ValidationStyle:
    label: str
    colour: str  # fill, from the one status colour table
    pattern: str  # a Plotly bar pattern shape, so that print in gray stays readable
    meaning: str


STYLES: dict[PushValidation, ValidationStyle] = {
    PushValidation.VERIFIED: ValidationStyle(
        "Verified",
        STATUS_TABLE[Status.GREEN].hex,
        "",
        "The verification after the push found the certificate on every endpoint.",
    ),
    PushValidation.FAILED_VERIFICATION: ValidationStyle(
        "Failed verification",
        STATUS_TABLE[Status.GRAY].hex,
        "/",
        "The verification after the push found another certificate, or no answer, "
        "on at least one endpoint (rolled back or not).",
    ),
    PushValidation.PUSH_FAILED: ValidationStyle(
        "Push failed",
        STATUS_TABLE[Status.GRAY].hex,
        "x",
        "The push did not install (device error or interrupted).",
    ),
    PushValidation.PENDING: ValidationStyle(
        "Pending",
        STATUS_TABLE[Status.BLUE].hex,
        ".",
        "Installed, its verification not finished yet.",
    ),
}


@dataclass(frozen=True)
class PushVerdict:
    """One push that ended (a work order with ``pushed_at``) and what the rule says it came to.

    ``decided_at`` is the time of the sweep that decided it (the first after the push),
    None while it is pending and for a push that failed; the endpoint counts are that
    sweep's. Read by data/push_verdicts.py; shown on the topology, in the work order's
    timeline and by ``certpush connectors list --json``.
    """

    work_order_number: int
    request_number: int
    connector_id: int
    connector: str
    certificate_fingerprint: str
    certificate_common_name: str | None
    status: str  # the work order's status label: "Completed", "Failed"
    pushed_at: datetime
    state: PushValidation
    decided_at: datetime | None = None
    endpoints_checked: int = 0
    endpoints_failed: int = 0
    reason: str = ""  # why the push failed, when it did

    @property
    def work_order(self) -> str:
        return work_order_id(self.work_order_number)

    @property
    def request(self) -> str:
        return request_id(self.request_number)

    @property
    def endpoints_matched(self) -> int:
        return self.endpoints_checked - self.endpoints_failed

    @property
    def label(self) -> str:
        """The state as people read it: "Verified", "Failed verification", "Pending"…"""
        return STYLES[self.state].label

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (``last_push`` of ``certpush connectors list --json``)."""
        return {
            "work_order": self.work_order,
            "request": self.request,
            "certificate": {
                "fingerprint": self.certificate_fingerprint,
                "common_name": self.certificate_common_name,
            },
            "pushed_at": self.pushed_at.isoformat(),
            "outcome": self.status,
            "reason": self.reason,
            "verdict": {
                "state": self.state.value,
                "label": self.label,
                "decided_at": self.decided_at.isoformat() if self.decided_at else None,
                "endpoints_checked": self.endpoints_checked,
                "endpoints_matched": self.endpoints_matched,
                "endpoints_failed": self.endpoints_failed,
            },
        }
