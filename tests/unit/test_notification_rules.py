"""The rules of who hears of what, and how soon (data/domain/notifications.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from data.domain.notifications import (
    EventKind as K,
)
from data.domain.notifications import (
    Mode,
    NotifyError,
    Relevance,
    backoff,
    check_email,
    choose_mode,
    parse_kinds,
    work_order_events,
)

P, R, S = "Push-Approval Pending", "Push-Review In Progress", "Push-Scheduled"


@pytest.mark.parametrize(
    ("action", "before", "after", "later", "kinds"),
    [
        ("request", None, P, False, [K.APPROVAL_NEEDED]),
        ("approve", P, R, False, [K.APPROVED, K.APPROVAL_NEEDED]),
        ("implement", R, S, False, [K.IMPLEMENTED]),
        ("implement", R, S, True, [K.SCHEDULED]),
        ("reschedule", S, S, True, [K.SCHEDULED]),
        ("replan", R, P, False, [K.APPROVAL_NEEDED]),
        ("claim", S, "Push In Progress", False, []),
        ("complete", "Verifying", "Completed", False, [K.COMPLETED]),
        ("fail", "Verifying", "Failed Verification", False, [K.FAILED_VERIFICATION]),
        ("fail", "Rolling Back", "Rolled Back", False, [K.ROLLED_BACK]),
        ("fail", "Rolling Back", "Rollback Failed", False, [K.ROLLBACK_FAILED]),
        ("reject", P, "Rejected", False, [K.REJECTED]),
        ("halt", S, "Halted", False, []),  # the rollout's halt is one event of its own
        ("renew", S, S, False, []),
    ],
)
def test_which_moves_tell(action, before, after, later, kinds):
    assert work_order_events(action, before, after, runs_later=later) == kinds


def test_approval_needed_reaches_only_who_may_act_whatever_they_chose():
    assert choose_mode(K.APPROVAL_NEEDED, None, Relevance.MAY_ACT) is Mode.NOW
    assert choose_mode(K.APPROVAL_NEEDED, Mode.DIGEST, Relevance.MAY_ACT) is Mode.DIGEST
    for chosen in (None, Mode.NOW):
        assert choose_mode(K.APPROVAL_NEEDED, chosen, Relevance.REQUESTER) is Mode.OFF
        assert choose_mode(K.APPROVAL_NEEDED, chosen, Relevance.NONE) is Mode.OFF


def test_defaults_outcomes_to_the_requester_and_the_report_to_managers():
    assert choose_mode(K.COMPLETED, None, Relevance.REQUESTER) is Mode.NOW
    assert choose_mode(K.COMPLETED, None, Relevance.NONE) is Mode.OFF
    assert choose_mode(K.COMPLETED, Mode.OFF, Relevance.REQUESTER) is Mode.OFF
    assert choose_mode(K.FAILED, Mode.NOW, Relevance.NONE) is Mode.NOW  # subscribed to all
    assert choose_mode(K.WEEKLY_REPORT, None, Relevance.MANAGER) is Mode.NOW
    assert choose_mode(K.WEEKLY_REPORT, None, Relevance.NONE) is Mode.OFF
    assert choose_mode(K.DRIFT_DETECTED, None, Relevance.REQUESTER) is Mode.OFF
    assert choose_mode(K.EXPIRY_DIGEST, Mode.DIGEST, Relevance.NONE) is Mode.NOW


def test_backoff_doubles_up_to_its_cap():
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (5, 10, 20)]
    assert backoff(40) == timedelta(minutes=5)


def test_kinds_and_addresses_are_checked():
    assert parse_kinds("failed, approval_needed,failed") == [K.FAILED, K.APPROVAL_NEEDED]
    assert K.DIGEST not in parse_kinds("all")
    with pytest.raises(NotifyError, match="unknown event 'bogus'"):
        parse_kinds("failed,bogus")
    assert check_email(" ana@example.org ") == "ana@example.org"
    for bad in ("ana", "ana@example.org\r\nBcc: x@y.z", "Ana <ana@example.org>", "a@b,c@d"):
        with pytest.raises(NotifyError):
            check_email(bad)
