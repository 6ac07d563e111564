"""Who hears of what, and how soon: the rules of notifications, with no I/O.

An event has a kind. Each user has a mode per kind (now, in the daily digest, or off);
without a choice the default applies: "approval needed" reaches, as it happens, the
users who may act next (never the requester), a requester hears the outcome of their own
requests, and managers receive the weekly report. "Approval needed" is a call to act, so
it only ever reaches someone who may act on that work order, whatever they chose.
"""

from __future__ import annotations

import enum
import re
from datetime import timedelta

from data.domain.errors import CertpushError
from data.domain.workflow import Action, WorkOrderStatus


class NotifyError(CertpushError):
    """A notification setting that cannot be accepted, with why."""


class EventKind(enum.StrEnum):
    APPROVAL_NEEDED = "approval_needed"
    APPROVED = "approved"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    IMPLEMENTED = "implemented"
    COMPLETED = "completed"
    FAILED = "failed"
    FAILED_VERIFICATION = "failed_verification"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    CANCELLED = "cancelled"
    ROLLOUT_HALTED = "rollout_halted"
    DRIFT_DETECTED = "drift_detected"
    EXPIRY_ALERT = "expiry_alert"  # a certificate bound to a connector turned Orange or Red
    AGENT_OFFLINE = "agent_offline"
    ZONE_OFFLINE = "zone_offline"
    WEEKLY_REPORT = "weekly_report"
    EXPIRY_DIGEST = "expiry_digest"  # once a day: every Orange/Yellow/Red bound certificate
    DIGEST = "digest"  # once a day: a user's events chosen "digest"


class Mode(enum.StrEnum):
    NOW = "now"
    DIGEST = "digest"
    OFF = "off"


class Relevance(enum.StrEnum):
    """Why a user is concerned by one event (decides the default)."""

    MAY_ACT = "may_act"  # may take the next step of the work order
    REQUESTER = "requester"  # requested the push
    MANAGER = "manager"  # reads the reports
    NONE = "none"


LABELS: dict[EventKind, str] = {
    EventKind.APPROVAL_NEEDED: "Approval needed",
    EventKind.APPROVED: "Approved",
    EventKind.REJECTED: "Rejected",
    EventKind.SCHEDULED: "Scheduled",
    EventKind.IMPLEMENTED: "Implemented (push starting)",
    EventKind.COMPLETED: "Completed",
    EventKind.FAILED: "Push failed",
    EventKind.FAILED_VERIFICATION: "Failed verification",
    EventKind.ROLLED_BACK: "Rolled back",
    EventKind.ROLLBACK_FAILED: "Rollback failed",
    EventKind.CANCELLED: "Cancelled",
    EventKind.ROLLOUT_HALTED: "Rollout halted",
    EventKind.DRIFT_DETECTED: "Drift detected",
    EventKind.EXPIRY_ALERT: "Certificate turned Orange or Red",
    EventKind.AGENT_OFFLINE: "Agent offline",
    EventKind.ZONE_OFFLINE: "Zone offline",
    EventKind.WEEKLY_REPORT: "Weekly report",
    EventKind.EXPIRY_DIGEST: "Daily expiry digest",
    EventKind.DIGEST: "Daily digest",
}

# The outcome of a request: its requester hears it by default.
OUTCOMES = frozenset(
    {
        EventKind.APPROVED,
        EventKind.REJECTED,
        EventKind.SCHEDULED,
        EventKind.IMPLEMENTED,
        EventKind.COMPLETED,
        EventKind.FAILED,
        EventKind.FAILED_VERIFICATION,
        EventKind.ROLLED_BACK,
        EventKind.ROLLBACK_FAILED,
        EventKind.CANCELLED,
        EventKind.ROLLOUT_HALTED,
    }
)
# Kinds a user may choose (DIGEST is the vehicle of the others, not a choice).
CHOOSABLE = tuple(k for k in EventKind if k is not EventKind.DIGEST)

_BY_STATUS = {
    WorkOrderStatus.COMPLETED: EventKind.COMPLETED,
    WorkOrderStatus.FAILED: EventKind.FAILED,
    WorkOrderStatus.FAILED_VERIFICATION: EventKind.FAILED_VERIFICATION,
    WorkOrderStatus.ROLLED_BACK: EventKind.ROLLED_BACK,
    WorkOrderStatus.ROLLBACK_FAILED: EventKind.ROLLBACK_FAILED,
    WorkOrderStatus.REJECTED: EventKind.REJECTED,
    WorkOrderStatus.CANCELLED: EventKind.CANCELLED,
}  # a halted work order says nothing itself: its rollout's halt is one event (data/rollouts)


def work_order_events(
    action: str, before: str | None, after: str | None, *, runs_later: bool = False
) -> list[EventKind]:
    """The events one recorded move of a work order gives (often none: a lease renewed,
    a verification started...). ``runs_later``: an Implement that set a future run time."""
    if after is None or (after == before and action not in ("replan", "reschedule")):
        return []
    status = WorkOrderStatus(after)
    kinds: list[EventKind] = []
    if status is WorkOrderStatus.APPROVAL_PENDING or status is WorkOrderStatus.REVIEW_IN_PROGRESS:
        if action == Action.APPROVE.value:
            kinds.append(EventKind.APPROVED)
        kinds.append(EventKind.APPROVAL_NEEDED)
    elif action == Action.IMPLEMENT.value:
        kinds.append(EventKind.SCHEDULED if runs_later else EventKind.IMPLEMENTED)
    elif action == Action.RESCHEDULE.value and status is WorkOrderStatus.SCHEDULED:
        kinds.append(EventKind.SCHEDULED)
    elif status in _BY_STATUS:
        kinds.append(_BY_STATUS[status])
    return kinds


def default_mode(kind: EventKind, relevance: Relevance) -> Mode:
    if kind is EventKind.DIGEST:  # made only for a user who put events in it: always sent
        return Mode.NOW
    if kind is EventKind.APPROVAL_NEEDED and relevance is Relevance.MAY_ACT:
        return Mode.NOW
    if kind in OUTCOMES and relevance is Relevance.REQUESTER:
        return Mode.NOW
    if kind is EventKind.WEEKLY_REPORT and relevance is Relevance.MANAGER:
        return Mode.NOW
    return Mode.OFF


def choose_mode(kind: EventKind, chosen: Mode | None, relevance: Relevance) -> Mode:
    """How one user hears of one event: their choice, else the default. "Approval needed"
    never reaches anyone who may not act (the requester included), whatever they chose;
    the daily digests are never themselves put in a digest."""
    if kind is EventKind.APPROVAL_NEEDED and relevance is not Relevance.MAY_ACT:
        return Mode.OFF
    mode = chosen if chosen is not None else default_mode(kind, relevance)
    if kind in (EventKind.DIGEST, EventKind.EXPIRY_DIGEST) and mode is Mode.DIGEST:
        return Mode.NOW
    return mode


def role_relevance(kind: EventKind, role: str) -> Relevance:
    """What a user's role alone makes them to an event, whoever it concerns: managers
    read the weekly report."""
    if kind is EventKind.WEEKLY_REPORT and role == "manager":
        return Relevance.MANAGER
    return Relevance.NONE


def usual_modes(role: str, acting_roles: set[str]) -> dict[EventKind, Mode]:
    """What "default" means for a user of ``role``, kind by kind (as shown beside their
    choice): approval needed when the role acts at some level, their own requests'
    outcomes, and what the role alone brings."""
    modes = {}
    for kind in CHOOSABLE:
        if kind is EventKind.APPROVAL_NEEDED:
            relevance = Relevance.MAY_ACT if role in acting_roles else Relevance.NONE
        elif kind in OUTCOMES:
            relevance = Relevance.REQUESTER
        else:
            relevance = role_relevance(kind, role)
        modes[kind] = choose_mode(kind, None, relevance)
    return modes


def backoff(attempt: int, base_seconds: float = 5.0, cap_seconds: float = 300.0) -> timedelta:
    """Wait before try ``attempt + 1``: 5 s, 10 s, 20 s... up to 5 minutes."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempt - 1)))


MAX_ATTEMPTS = 30  # with the 5-minute cap: about two hours of retries, then "failed"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s<>\"',;]{{1,64}}@{_LABEL}(?:\.{_LABEL})*$")
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_email(address: str) -> str:
    """A plain ``local@domain`` address (no display name, no list): what a header can
    carry without being split or injected."""
    address = address.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise NotifyError(f"{address!r} is not an e-mail address (expected name@example.org)")
    return address


def check_channel_name(name: str) -> str:
    if not _CHANNEL.match(name):
        raise NotifyError(
            f"{name!r} is not a channel name: lowercase letters, digits, - and _ "
            "(up to 64, starting with a letter or digit)"
        )
    return name


def parse_kinds(text: str | list[str] | None) -> list[EventKind]:
    """``approval_needed,failed`` (or ``all``) as kinds; an unknown kind is an error
    naming the known ones."""
    items = text if isinstance(text, list) else (text or "").split(",")
    items = [i.strip() for i in items if i.strip()]
    if not items or items == ["all"]:
        return list(CHOOSABLE)
    kinds = []
    for item in items:
        try:
            kind = EventKind(item)
        except ValueError:
            raise NotifyError(
                f"unknown event {item!r}: use all, or some of {', '.join(CHOOSABLE)}"
            ) from None
        if kind not in kinds:
            kinds.append(kind)
    return kinds
