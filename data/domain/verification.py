"""What a TLS probe found, and what it means for pushes and certificates.

Pure rules: the sweep (jobs/verify.py) feeds them facts and stores the verdicts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class ProbeOutcome(enum.StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    RESET = "reset"
    TLS_ERROR = "tls_error"
    NOT_TLS = "not_tls"
    DNS_ERROR = "dns_error"
    UNREACHABLE = "unreachable"
    # The endpoint's zone had no live agent (or none answered before the sweep's
    # deadline): nothing was learnt about the device, so it decides nothing.
    ZONE_OFFLINE = "zone_offline"


def push_verdict(outcomes: Iterable[ProbeOutcome]) -> str | None:
    """The first sweep after a push decides it: verified when every endpoint matched."""
    seen = list(outcomes)
    if not seen or ProbeOutcome.ZONE_OFFLINE in seen:
        return None  # an endpoint nobody could probe leaves the push undecided
    return "verified" if all(o is ProbeOutcome.MATCH for o in seen) else "failed"


def is_drift(
    outcome: ProbeOutcome,
    served: str | None,
    matched_before: bool,
    pushed_by_us: set[str],
) -> bool:
    """An endpoint that had served our certificate now serves one no work order of ours pushed."""
    return (
        outcome is ProbeOutcome.MISMATCH
        and matched_before
        and served is not None
        and served not in pushed_by_us
    )


# Handshakes that mean the service is broken, not merely serving another certificate.
BROKEN = frozenset({ProbeOutcome.TLS_ERROR, ProbeOutcome.NOT_TLS, ProbeOutcome.REFUSED})
SERVED = frozenset({ProbeOutcome.MATCH, ProbeOutcome.MISMATCH})


def newly_broken(before: ProbeOutcome | None, after: ProbeOutcome) -> bool:
    """An endpoint that completed a handshake before the push and now cannot: the push
    broke the service, and it is rolled back even where automatic rollback is off."""
    return before in SERVED and after in BROKEN
