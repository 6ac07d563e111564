"""Login throttling and session rules, pure (data/domain/throttle.py, sessions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data.domain.sessions import SessionEnd, SessionPolicy, end_reason, needs_touch
from data.domain.throttle import (
    Scope,
    ThrottlePolicy,
    account_key,
    address_key,
    live_failures,
    locks,
    refused_until,
    wait_message,
)

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = ThrottlePolicy()


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        (0, None),
        (4, None),
        (5, timedelta(seconds=1)),
        (6, timedelta(seconds=2)),
        (9, timedelta(seconds=16)),
        (10, timedelta(minutes=15)),
        (25, timedelta(minutes=15)),
    ],
)
def test_delay_grows_after_five_failures_and_locks_at_ten(failures, wait):
    until = refused_until(failures, T, POLICY)
    assert (until - T if until else None) == wait
    assert locks(failures, POLICY) is (failures >= 10)


def test_the_delay_is_capped_and_the_thresholds_configurable():
    policy = ThrottlePolicy(delay_after=2, lock_after=40, lock_minutes=5)
    assert refused_until(2, T, policy) == T + timedelta(seconds=1)
    assert refused_until(39, T, policy) == T + timedelta(minutes=5)  # 2**37 s capped
    assert refused_until(40, T, policy) == T + timedelta(minutes=5)
    with pytest.raises(ValueError):
        ThrottlePolicy(delay_after=11, lock_after=10)


@pytest.mark.parametrize(
    ("scope", "quiet", "remembered"),
    [
        (Scope.ACCOUNT, timedelta(hours=23), 7),
        (Scope.ACCOUNT, timedelta(hours=25), 0),
        (Scope.ADDRESS, timedelta(minutes=50), 7),
        (Scope.ADDRESS, timedelta(minutes=70), 0),
    ],
)
def test_counters_are_forgotten_after_a_quiet_period(scope, quiet, remembered):
    assert live_failures(scope, 7, T - quiet, T, POLICY) == remembered


@pytest.mark.parametrize(
    ("left", "message"),
    [
        (timedelta(minutes=15), "try again in 15 minutes"),
        (timedelta(minutes=14, seconds=1), "try again in 15 minutes"),
        (timedelta(minutes=14), "try again in 14 minutes"),
        (timedelta(seconds=61), "try again in 2 minutes"),
        (timedelta(seconds=60), "try again in 1 minute"),
        (timedelta(seconds=16), "try again in 16 seconds"),
        (timedelta(milliseconds=200), "try again in 1 second"),
    ],
)
def test_wait_message_rounds_up(left, message):
    assert wait_message(T + left, T) == f"too many failed attempts: {message}"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # one client's /64 shares a counter
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_address_keys(address, key):
    assert address_key(address) == key


def test_account_keys_ignore_case_and_spaces():
    assert account_key(" Olivia ") == account_key("olivia") == "olivia"


SESSION = SessionPolicy(idle=timedelta(minutes=30), max_age=timedelta(hours=12))


@pytest.mark.parametrize(
    ("created", "seen", "active", "role_now", "reason"),
    [
        (T - timedelta(hours=1), T - timedelta(minutes=29), True, "operator", None),
        (T - timedelta(hours=1), T - timedelta(minutes=30), True, "operator", SessionEnd.IDLE),
        (T - timedelta(hours=12), T, True, "operator", SessionEnd.EXPIRED),
        (T - timedelta(hours=1), T, False, "operator", SessionEnd.USER_DISABLED),
        (T - timedelta(hours=1), T, True, None, SessionEnd.USER_DISABLED),
        (T - timedelta(hours=1), T, True, "admin", SessionEnd.ROLE_CHANGED),
    ],
)
def test_session_end_reasons(created, seen, active, role_now, reason):
    assert (
        end_reason(
            created_at=created,
            last_seen_at=seen,
            user_active=active,
            role_at_login="operator",
            role_now=role_now,
            now=T,
            policy=SESSION,
        )
        == reason
    )


def test_last_seen_is_written_at_most_once_a_minute():
    assert not needs_touch(T - timedelta(seconds=59), T, SESSION)
    assert needs_touch(T - timedelta(seconds=60), T, SESSION)
