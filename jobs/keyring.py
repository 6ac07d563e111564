"""The keyring as the scheduler's jobs see it: read again at every tick, never created.

Reading it each time lets a rotation (a new current key) or a retired key take effect
without a restart. The scheduler refuses to start without a key (jobs/scheduler.py); if
the key goes missing while it runs, each job skips its tick and the reason is logged
once, not every second.
"""

from __future__ import annotations

import logging

from data.config import Settings
from data.crypto import Vault, load_vault
from data.domain.errors import ConfigError

log = logging.getLogger("certpush.keyring")
_reported: set[str] = set()


def job_vault(settings: Settings) -> Vault | None:
    """The keyring, or None (the reason logged once) when it cannot be read."""
    try:
        vault = load_vault(settings)
    except ConfigError as exc:
        if str(exc) not in _reported:
            _reported.add(str(exc))
            log.error("%s; jobs needing the key wait until it is back", exc)
        return None
    _reported.clear()
    return vault
