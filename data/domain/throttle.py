"""When a login may be tried again after failed attempts: the growing delay and the lock.

Failures are counted per account name and per client address. After ``delay_after``
failures a key refuses attempts until ``2 ** (n - delay_after)`` seconds after its last
failure; from ``lock_after`` failures on it refuses them for ``lock_minutes`` after the
last failure, whatever the password. A refused attempt is not checked and does not
count, so it neither lengthens the wait nor reaches the password hash.

Pure rules: the caller gives the stored counts and ``now``.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Scope(StrEnum):
    """What a failure counter is kept for."""

    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True)
class ThrottlePolicy:
    """The thresholds (CERTPUSH_LOGIN_DELAY_AFTER, _LOCK_AFTER, _LOCK_MINUTES).

    A counter is forgotten after a quiet period without failures: a day for an account
    (a success resets it at once), an hour for an address. A success does not reset an
    address: otherwise anyone holding one account could wipe the counter of the address
    they guess other accounts from.
    """

    delay_after: int = 5
    lock_after: int = 10
    lock_minutes: int = 15
    account_memory: timedelta = timedelta(hours=24)
    address_memory: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if not 1 <= self.delay_after <= self.lock_after:
            raise ValueError("the login delay must start at 1 failure or more, before the lock")
        if self.lock_minutes < 1:
            raise ValueError("the login lock lasts at least one minute")

    @property
    def lock(self) -> timedelta:
        return timedelta(minutes=self.lock_minutes)

    def memory(self, scope: Scope) -> timedelta:
        """How long a counter outlives its last failure (never shorter than a lock)."""
        quiet = self.account_memory if scope is Scope.ACCOUNT else self.address_memory
        return max(quiet, self.lock)


def remembered_since(scope: Scope, now: datetime, policy: ThrottlePolicy) -> datetime:
    """Failures whose last one is older than this are forgotten."""
    return now - policy.memory(scope)


def live_failures(
    scope: Scope,
    failures: int,
    last_failure_at: datetime | None,
    now: datetime,
    policy: ThrottlePolicy,
) -> int:
    """The stored count, or 0 once the counter has been quiet for its memory period."""
    if last_failure_at is None or last_failure_at < remembered_since(scope, now, policy):
        return 0
    return max(failures, 0)


def refused_until(
    failures: int, last_failure_at: datetime | None, policy: ThrottlePolicy
) -> datetime | None:
    """Until when a key with ``failures`` (still remembered) refuses attempts, if at all."""
    if last_failure_at is None or failures < policy.delay_after:
        return None
    if failures >= policy.lock_after:
        return last_failure_at + policy.lock
    delay = min(2 ** (failures - policy.delay_after), policy.lock_minutes * 60)
    return last_failure_at + timedelta(seconds=delay)


def locks(failures: int, policy: ThrottlePolicy) -> bool:
    """Whether a failure that brings a key to ``failures`` starts a lock."""
    return failures >= policy.lock_after


def wait_message(until: datetime, now: datetime) -> str:
    """What a refused person reads; the same whether or not the account exists."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    if seconds < 60:
        amount = f"{seconds} second" + ("" if seconds == 1 else "s")
    else:
        minutes = math.ceil(seconds / 60)
        amount = f"{minutes} minute" + ("" if minutes == 1 else "s")
    return f"too many failed attempts: try again in {amount}"


def account_key(username: str) -> str:
    """Names are compared without case: 'Olivia' and 'olivia' share one counter."""
    return username.strip().casefold()[:128]


def address_key(address: str | None) -> str:
    """An IPv4 address as is; an IPv6 address by its /64, which one client usually holds whole."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:128]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
