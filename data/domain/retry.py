"""Which push failures are worth another try, and how long to wait before it.

Transient failures (the device did not answer in time, could not be reached, reset
the connection) often pass; failures that say something is wrong (authentication, a
changed host key, permissions, a config test that failed, a preflight blocker) would
fail the same way again, and some (auth) would lock accounts: they are never retried.
Pure: the random source is passed in.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# FailureClass values (jobs/connectors/base.py) a retry may cure.
TRANSIENT = frozenset({"timeout", "unreachable"})


def is_transient(failure: str | None) -> bool:
    return failure in TRANSIENT


def backoff(
    try_number: int, base: float, rand: Callable[[], float] = random.random, cap: float = 300.0
) -> float:
    """Seconds to wait after failed try ``try_number`` (1, 2, ...): exponential with
    "equal jitter" (half fixed, half random), so many devices failing together do not
    retry in lockstep, and never less than half the exponential step."""
    step = min(cap, base * 2 ** (try_number - 1))
    return step / 2 + rand() * step / 2
