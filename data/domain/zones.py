"""Zones and their agents: names, an agent's trust state, and when a zone is offline.

Plain rules, no I/O: data/agents.py stores agents, the scheduler and the sweep ask
these rules whether a zone can take work now.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from data.domain.errors import CertpushError

LOCAL = "local"  # the zone the scheduler serves itself, in process
HEARTBEAT_SECONDS = 10  # how often an agent says it is alive
OFFLINE_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)  # three missed beats
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
CENTRAL_QUEUE = "certpush.central"  # agents' heartbeats and results, read by central only


class ZoneError(CertpushError):
    """A zone or agent name that cannot be used, said with the rule."""


class AgentState(enum.StrEnum):
    PENDING = "pending"  # asked to join; gets no work until an admin approves it
    APPROVED = "approved"
    REVOKED = "revoked"  # never gets work again; its results are refused


def check_zone(name: str) -> str:
    """Zone names become queue names: lower-case letters, digits and dashes, 1-32."""
    name = (name or "").strip().lower()
    if not _NAME.match(name):
        raise ZoneError(
            f"zone {name!r}: use 1-32 lower-case letters, digits and dashes (dmz-eu, dc2)"
        )
    return name


def zone_queue(zone: str) -> str:
    """The queue (and the direct exchange of the same name) of one zone's work."""
    return f"certpush.zone.{zone}"


def check_agent_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ZoneError(f"agent name {name!r}: use 1-32 lower-case letters, digits and dashes")
    return name


@dataclass(frozen=True)
class AgentLife:
    """What liveness needs to know of one agent."""

    state: AgentState
    last_heartbeat: datetime | None


def is_live(agent: AgentLife, now: datetime, offline_after: timedelta = OFFLINE_AFTER) -> bool:
    """Approved and heard from recently: it may get work."""
    return (
        agent.state is AgentState.APPROVED
        and agent.last_heartbeat is not None
        and now - agent.last_heartbeat <= offline_after
    )


def zone_online(
    agents: list[AgentLife], now: datetime, offline_after: timedelta = OFFLINE_AFTER
) -> bool:
    """A zone is online while at least one of its approved agents is live."""
    return any(is_live(a, now, offline_after) for a in agents)
