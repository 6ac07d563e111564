"""The audit chain's canonical form and the walk that finds the first break (no database)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from data.domain.audit_chain import (
    EMPTY,
    GENESIS,
    BreakKind,
    ChainedEvent,
    ChainHead,
    canonical_form,
    event_hash,
    parse_head,
    walk,
)

AT = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
CONTENT = dict(
    id=7,
    seq=3,
    at=AT,
    actor="ravi",
    action="workorder.approve",
    target="WO-000007",
    detail="ok",
    user_id=2,
    prev_hash=GENESIS,
)


def test_the_canonical_form_is_fixed():
    """Changing this form silently would void every stored hash: it may only get a new name."""
    assert canonical_form(**CONTENT) == (
        b'["certpush-audit-1",7,3,"2026-06-01T12:00:00.123456+00:00","ravi",'
        b'"workorder.approve","WO-000007","ok",2,"' + GENESIS.encode() + b'"]'
    )
    assert event_hash(**CONTENT) == hashlib.sha256(canonical_form(**CONTENT)).hexdigest()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 8),
        ("seq", 4),
        ("at", AT + timedelta(microseconds=1)),
        ("actor", "ravi "),
        ("action", "workorder.reject"),
        ("target", "WO-000008"),
        ("detail", "ok."),
        ("user_id", None),
        ("prev_hash", "1" * 64),
    ],
)
def test_every_field_is_covered(field, value):
    assert event_hash(**CONTENT) != event_hash(**{**CONTENT, field: value})


def test_no_value_can_pose_as_a_field_boundary():
    a = event_hash(**{**CONTENT, "actor": 'ravi","x', "action": "y"})
    b = event_hash(**{**CONTENT, "actor": "ravi", "action": 'x","y'})
    assert a != b


def test_the_same_instant_in_another_zone_hashes_the_same_and_naive_times_are_refused():
    paris = AT.astimezone(timezone(timedelta(hours=2)))
    assert event_hash(**{**CONTENT, "at": paris}) == event_hash(**CONTENT)
    with pytest.raises(ValueError, match="timezone-aware"):
        event_hash(**{**CONTENT, "at": AT.replace(tzinfo=None)})
    assert event_hash(**{**CONTENT, "detail": "é\x00\ud800"})  # anything a column holds


def chain(n: int) -> list[ChainedEvent]:
    events, prev = [], GENESIS
    for i in range(1, n + 1):
        fields = dict(
            id=100 + i,
            seq=i,
            at=AT + timedelta(minutes=i),
            actor="ines",
            action=f"act.{i}",
            target=f"t{i}",
            detail="",
            user_id=None,
            prev_hash=prev,
        )
        prev = event_hash(**fields)
        events.append(ChainedEvent(**fields, hash=prev))
    return events


def edited(events, index, **changes):
    return [dataclasses.replace(e, **changes) if i == index else e for i, e in enumerate(events)]


def swapped(events, i, j):
    """Two events' places exchanged: each takes the other's seq."""
    out = list(events)
    out[i] = dataclasses.replace(events[j], seq=events[i].seq)
    out[j] = dataclasses.replace(events[i], seq=events[j].seq)
    return out


FIVE = chain(5)


@pytest.mark.parametrize(
    ("events", "kind", "event_id", "checked", "words"),
    [
        (edited(FIVE, 2, detail="nothing to see"), BreakKind.EDITED, 103, 2,
         "event 103 (act.3 by ines at 2026-06-01 12:03:00 UTC) was edited: its content no "
         "longer matches its hash"),
        (edited(FIVE, 1, hash=None), BreakKind.EDITED, 102, 1, "was edited"),
        (FIVE[:2] + FIVE[3:], BreakKind.LINK, 104, 2,
         "the event before 104 (seq 4) is missing or was reordered: prev_hash does not match "
         "event 102 (seq 2)'s hash"),
        (FIVE[1:], BreakKind.LINK, 102, 0, "does not match the start of the chain"),
        (swapped(FIVE, 1, 2), BreakKind.MOVED, 103, 1, "event 103 (act.3 by ines"),
    ],
    ids=["edited", "hash erased", "deleted", "first deleted", "swapped"],
)  # fmt: skip
def test_the_walk_names_the_first_break(events, kind, event_id, checked, words):
    report = walk(events)
    assert not report.intact
    assert (report.problem.kind, report.problem.event_id, report.events) == (
        kind,
        event_id,
        checked,
    )
    assert words in report.problem.message
    assert report.head == ChainHead(FIVE[checked - 1].seq, FIVE[checked - 1].hash) or (
        checked == 0 and report.head == EMPTY
    )


def test_an_intact_chain_reports_its_head():
    report = walk(FIVE)
    assert report.intact and report.events == 5
    assert report.head == ChainHead(5, FIVE[-1].hash)
    assert report.to_json() == {
        "intact": True,
        "events": 5,
        "head": {"seq": 5, "hash": FIVE[-1].hash},
        "problem": None,
    }
    assert walk([]).head == EMPTY and walk([]).intact


def test_a_cut_tail_or_a_rewritten_chain_shows_only_against_a_head_kept_elsewhere():
    kept = ChainHead(5, FIVE[-1].hash)
    assert walk(FIVE[:4]).intact  # the chain alone cannot tell
    cut = walk(FIVE[:4], [kept])
    assert cut.problem.kind is BreakKind.HEAD and cut.problem.seq == 5
    assert "the events after it were deleted" in cut.problem.message
    # An event edited and every hash after it recomputed: a consistent chain, another head.
    rewritten = _rehashed(edited(FIVE, 3, detail="rewritten"))
    assert walk(rewritten).intact
    found = walk(rewritten, [kept])
    assert found.problem.kind is BreakKind.HEAD and found.problem.event_id == 105
    assert walk(FIVE, [kept, ChainHead(2, FIVE[1].hash)]).intact


def _rehashed(events):
    out, prev = [], GENESIS
    for e in events:
        fields = {f.name: getattr(e, f.name) for f in dataclasses.fields(e) if f.name != "hash"}
        fields["prev_hash"] = prev
        prev = event_hash(**fields)
        out.append(ChainedEvent(**fields, hash=prev))
    return out


@pytest.mark.parametrize(
    ("text", "head"),
    [("12:" + "ab" * 32, ChainHead(12, "ab" * 32)), (" 0:" + "AB" * 32, ChainHead(0, "ab" * 32))],
)
def test_parse_head(text, head):
    assert parse_head(text) == head
    assert str(head) == f"{head.seq}:{head.hash}"


@pytest.mark.parametrize("text", ["12", "x:" + "ab" * 32, "12:abc", "12:" + "zz" * 32])
def test_parse_head_refuses(text):
    with pytest.raises(ValueError, match="SEQ:HASH"):
        parse_head(text)
