"""The audit chain: what an event's hash covers, and how a walk along the chain finds a break.

Every audit event stores the hash of the event before it (``prev_hash``) and its own
``hash``: SHA-256 over the canonical form of its content and of ``prev_hash``. Editing
an event breaks its own hash; removing or moving one breaks the link of the event after
it (or its own hash, which covers its position). Rewriting the whole tail consistently
is possible for whoever can write the table, which is why the head is also copied out
(the weekly report): see README, "Tamper-evident audit trail".

Pure: no database, no clock. data/audit.py writes the chain, data/audit_chain.py reads it.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

# The hash of the (absent) event before the first one.
GENESIS = "0" * 64
# Names the canonical form below; a different form would need a new name, never a change here.
FORM = "certpush-audit-1"


class ChainHead(NamedTuple):
    """A position in the chain: the last event's sequence number and hash (0, GENESIS if none)."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


EMPTY = ChainHead(0, GENESIS)


def parse_head(text: str) -> ChainHead:
    """Read ``SEQ:HASH`` (as a report prints it), with a message saying what is wrong."""
    seq, sep, digest = text.strip().partition(":")
    digest = digest.strip().lower()
    if not sep or not seq.strip().isdigit() or len(digest) != 64:
        raise ValueError(f"{text!r} is not SEQ:HASH (a number, a colon, 64 hex digits)")
    try:
        bytes.fromhex(digest)
    except ValueError:
        raise ValueError(f"{text!r} is not SEQ:HASH (the hash is not hexadecimal)") from None
    return ChainHead(int(seq), digest)


@dataclass(frozen=True)
class ChainedEvent:
    """One audit event as stored, chain fields included (``seq``/``hash`` None: not chained)."""

    id: int
    seq: int | None
    at: datetime
    actor: str
    action: str
    target: str
    detail: str
    user_id: int | None
    prev_hash: str | None
    hash: str | None

    def describe(self) -> str:
        """``event 1234 (workorder.approve by ravi at 2026-06-01 12:00:00 UTC)``."""
        return (
            f"event {self.id} ({self.action} by {self.actor} "
            f"at {self.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        )


def canonical_form(
    *,
    id: int,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    detail: str,
    user_id: int | None,
    prev_hash: str,
) -> bytes:
    """The bytes an event's hash covers: a JSON array of the form's name and the fields.

    JSON keeps field boundaries unambiguous (no separator can be forged inside a value);
    ASCII escapes make any string encodable; the time is UTC with microseconds, exactly
    what both databases store.
    """
    if at.tzinfo is None:
        raise ValueError("an audit event's time must be timezone-aware")
    fields = [
        FORM,
        id,
        seq,
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        actor,
        action,
        target,
        detail,
        user_id,
        prev_hash,
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def event_hash(**fields: Any) -> str:
    """SHA-256 (hex) of the event's canonical form (the fields of ``canonical_form``)."""
    return hashlib.sha256(canonical_form(**fields)).hexdigest()


def stored_content_hash(event: ChainedEvent) -> str:
    """The hash the event's stored content (its stored ``prev_hash`` included) comes to now."""
    return event_hash(
        id=event.id,
        seq=event.seq or 0,
        at=event.at,
        actor=event.actor,
        action=event.action,
        target=event.target,
        detail=event.detail,
        user_id=event.user_id,
        prev_hash=event.prev_hash or "",
    )


class BreakKind(enum.StrEnum):
    EDITED = "edited"  # its content no longer matches its own hash
    LINK = "missing_or_reordered"  # its prev_hash is not the hash of the event before it
    MOVED = "moved_or_edited"  # both: an event put in another place, or rewritten whole
    HEAD = "head_mismatch"  # a head recorded elsewhere is no longer in the chain
    UNCHAINED = "unchained"  # a row without seq/hash: written around certpush's writer


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold, with a message a person can act on."""

    kind: BreakKind
    event_id: int | None
    seq: int | None
    message: str

    def to_json(self) -> dict:
        return {
            "kind": self.kind.value,
            "event_id": self.event_id,
            "seq": self.seq,
            "message": self.message,
        }


@dataclass(frozen=True)
class ChainReport:
    """What a walk along the chain found: how many events held, the head of that intact
    part (the whole chain's head when nothing broke) and the first break, if any."""

    events: int
    head: ChainHead
    problem: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict:
        return {
            "intact": self.intact,
            "events": self.events,
            "head": {"seq": self.head.seq, "hash": self.head.hash},
            "problem": None if self.problem is None else self.problem.to_json(),
        }


def walk(events: Iterable[ChainedEvent], expected: Iterable[ChainHead] = ()) -> ChainReport:
    """Check events given in ``seq`` order (those with a ``seq``); stop at the first break.

    ``expected`` are heads recorded outside the database (a weekly report's): each must
    still be the event at its ``seq``, which is the only way to notice a tail that was
    cut off or a chain rewritten and rehashed from some point on.
    """
    anchors = {h.seq: h.hash for h in expected}
    head, count, previous = EMPTY, 0, None
    for event in events:
        content_ok = event.hash is not None and stored_content_hash(event) == event.hash
        link_ok = event.prev_hash == head.hash and event.seq == head.seq + 1
        if not (content_ok and link_ok):
            return ChainReport(count, head, _break(event, previous, content_ok, link_ok))
        here = ChainHead(head.seq + 1, str(event.hash))
        if here.seq in anchors and anchors.pop(here.seq) != here.hash:
            return ChainReport(count, head, _head_mismatch(event, here))
        head, count, previous = here, count + 1, event
    if anchors:
        seq = min(anchors)
        message = (
            f"the chain ends at seq {head.seq}, but a head recorded elsewhere names seq {seq}: "
            "the events after it were deleted"
        )
        return ChainReport(count, head, ChainBreak(BreakKind.HEAD, None, seq, message))
    return ChainReport(count, head, None)


def _break(
    event: ChainedEvent, previous: ChainedEvent | None, content_ok: bool, link_ok: bool
) -> ChainBreak:
    before = (
        f"event {previous.id} (seq {previous.seq})'s hash"
        if previous is not None
        else "the start of the chain"
    )
    if not content_ok and link_ok:
        message = f"{event.describe()} was edited: its content no longer matches its hash"
        return ChainBreak(BreakKind.EDITED, event.id, event.seq, message)
    if content_ok:
        message = (
            f"the event before {event.id} (seq {event.seq}) is missing or was reordered: "
            f"prev_hash does not match {before}"
        )
        return ChainBreak(BreakKind.LINK, event.id, event.seq, message)
    message = (
        f"{event.describe()} was moved or edited at seq {event.seq}: its content no longer "
        f"matches its hash and its prev_hash does not match {before}"
    )
    return ChainBreak(BreakKind.MOVED, event.id, event.seq, message)


def _head_mismatch(event: ChainedEvent, found: ChainHead) -> ChainBreak:
    message = (
        f"{event.describe()} at seq {found.seq} is not the event a head recorded elsewhere "
        "names: the chain was rewritten from there on"
    )
    return ChainBreak(BreakKind.HEAD, event.id, found.seq, message)


def unchained(event: ChainedEvent) -> ChainBreak:
    """A row with no place in the chain (inserted with plain SQL, or its chain fields erased)."""
    message = (
        f"{event.describe()} is not in the chain (no seq or hash): it was written "
        "around certpush's audit writer, or its chain fields were erased"
    )
    return ChainBreak(BreakKind.UNCHAINED, event.id, event.seq, message)
