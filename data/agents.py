"""Zone agents in the database: enrolment, an admin's approval or revocation, heartbeats.

The rules (names, states, liveness) are data/domain/zones.py; the keys and signatures
are data/envelopes.py. Every decision and every refused message is audited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data import audit
from data.domain.errors import NotFound, PermissionDenied
from data.domain.roles import Role
from data.domain.zones import (
    AgentLife,
    AgentState,
    ZoneError,
    check_agent_name,
    check_zone,
    is_live,
)
from data.domain.zones import zone_online as any_live
from data.envelopes import EnvelopeError, PublicIdentity, verify
from data.models import Agent


@dataclass(frozen=True)
class AgentInfo:
    name: str
    zone: str
    state: AgentState
    fingerprint: str
    version: str
    enrolled_at: datetime
    decided_by: str | None
    last_heartbeat: datetime | None
    in_flight: int

    def live(self, now: datetime) -> bool:
        return is_live(AgentLife(self.state, self.last_heartbeat), now)

    def to_json(self, now: datetime) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value else None

        return {
            "name": self.name,
            "zone": self.zone,
            "state": self.state.value,
            "fingerprint": self.fingerprint,
            "version": self.version,
            "enrolled_at": iso(self.enrolled_at),
            "decided_by": self.decided_by,
            "last_heartbeat": iso(self.last_heartbeat),
            "live": self.live(now),
            "in_flight": self.in_flight,
        }


def _info(row: Agent) -> AgentInfo:
    return AgentInfo(
        row.name,
        row.zone,
        AgentState(row.state),
        row.fingerprint,
        row.version,
        row.enrolled_at,
        row.decided_by,
        row.last_heartbeat,
        row.in_flight,
    )


def _row(session: Session, name: str) -> Agent:
    row = session.scalar(select(Agent).where(Agent.name == name))
    if row is None:
        raise NotFound(f"no agent named {name!r} (certpush agents list shows them)")
    return row


def identity(row: Agent) -> PublicIdentity:
    return PublicIdentity(row.signing_key, row.sealing_key)


def hello(session: Session, message: Any, *, now: datetime) -> AgentInfo:
    """An agent's signed heartbeat, which is also how it enrols.

    The message names the agent, its zone and its public keys, and is signed with the
    signing key it names (proof that the sender holds it). A new name is recorded as
    pending (an admin decides); a known name with the same keys is alive again; another
    key or zone under a known name, or a revoked agent, is refused (ZoneError; the
    caller audits it): a stolen name must not take over an approved agent's work.
    """
    body = message.get("body") if isinstance(message, dict) else None
    if not isinstance(body, dict):
        raise EnvelopeError("not a signed message")
    public = PublicIdentity.from_json(body.get("identity"))
    body = verify(message, public)
    name, zone = check_agent_name(str(body.get("agent", ""))), check_zone(str(body.get("zone")))
    version = str(body.get("version", ""))[:32]
    row = session.scalar(select(Agent).where(Agent.name == name))
    if row is None:
        row = Agent(
            name=name,
            zone=zone,
            signing_key=public.signing,
            sealing_key=public.sealing,
            fingerprint=public.fingerprint,
            state=AgentState.PENDING.value,
            version=version,
            enrolled_at=now,
            last_heartbeat=now,
            in_flight=0,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=f"agent:{name}",
            action="agent.enrol",
            now=now,
            target=name,
            detail=f"zone {zone}; key fingerprint {public.fingerprint}",
        )
        return _info(row)
    why = None
    if row.fingerprint != public.fingerprint or row.zone != zone:
        why = (
            f"zone {zone}, key {public.fingerprint[:16]}… differs from the enrolled "
            f"{row.zone}, {row.fingerprint[:16]}…"
        )
    elif row.state == AgentState.REVOKED.value:
        why = "the agent is revoked"
    if why:
        audit.record(
            session,
            actor=f"agent:{name}",
            action="agent.hello.refused",
            now=now,
            target=name,
            detail=why,
        )
        raise ZoneError(f"agent {name!r} refused: {why}")
    heartbeat(session, row, in_flight=int(body.get("in_flight") or 0), version=version, now=now)
    return _info(row)


def _decide(
    session: Session, name: str, state: AgentState, *, actor: str, role: str, now: datetime
) -> AgentInfo:
    if role != Role.ADMIN.value:
        raise PermissionDenied(f"{actor} ({role}) may not approve or revoke agents: admins only")
    row = _row(session, name)
    if row.state == AgentState.REVOKED.value and state is AgentState.APPROVED:
        raise ZoneError(f"agent {name!r} was revoked: it cannot be approved again")
    if row.state != state.value:
        row.state, row.decided_by, row.decided_at = state.value, actor, now
        verb = "approve" if state is AgentState.APPROVED else "revoke"
        audit.record(
            session,
            actor=actor,
            action=f"agent.{verb}",
            now=now,
            target=name,
            detail=f"zone {row.zone}; key fingerprint {row.fingerprint}",
        )
    session.flush()
    return _info(row)


def approve(session: Session, name: str, *, actor: str, role: str, now: datetime) -> AgentInfo:
    """An admin trusts this agent (this key) to work in its zone."""
    return _decide(session, name, AgentState.APPROVED, actor=actor, role=role, now=now)


def revoke(session: Session, name: str, *, actor: str, role: str, now: datetime) -> AgentInfo:
    """The agent gets no more work and its results are refused from now on."""
    return _decide(session, name, AgentState.REVOKED, actor=actor, role=role, now=now)


def list_agents(session: Session, zone: str | None = None) -> list[AgentInfo]:
    query = select(Agent).order_by(Agent.zone, Agent.name)
    if zone is not None:
        query = query.where(Agent.zone == zone)
    return [_info(r) for r in session.scalars(query)]


def zone_recipients(session: Session, zone: str) -> list[PublicIdentity]:
    """The approved agents of a zone: what secrets for it are sealed to."""
    rows = session.scalars(
        select(Agent).where(Agent.zone == zone, Agent.state == AgentState.APPROVED.value)
    )
    return [identity(r) for r in rows]


def online_zones(session: Session, zones: Iterable[str], now: datetime) -> set[str]:
    """Which of ``zones`` have a live approved agent (data/domain/zones.py), in one query."""
    wanted = set(zones)
    if not wanted:
        return set()
    lives: dict[str, list[AgentLife]] = defaultdict(list)
    for zone, state, beat in session.execute(
        select(Agent.zone, Agent.state, Agent.last_heartbeat).where(
            Agent.zone.in_(wanted), Agent.state == AgentState.APPROVED.value
        )
    ):
        lives[zone].append(AgentLife(AgentState(state), beat))
    return {zone for zone in wanted if any_live(lives[zone], now)}


def zone_online(session: Session, zone: str, now: datetime) -> bool:
    return zone in online_zones(session, [zone], now)


def accept(session: Session, message: Any, *, now: datetime) -> tuple[Agent, dict[str, Any]]:
    """The body of a message from an approved agent whose signature holds.

    Anything else (unknown or pending or revoked agent, bad signature) is refused with
    EnvelopeError; the caller audits it in its own transaction.
    """
    name = (message.get("body") or {}).get("agent") if isinstance(message, dict) else None
    row = session.scalar(select(Agent).where(Agent.name == str(name))) if name else None
    why = None
    if row is None:
        why = f"from unknown agent {str(name)[:40]!r}"
    elif row.state != AgentState.APPROVED.value:
        why = f"from agent {row.name!r}, which is {row.state}"
    else:
        try:
            return row, verify(message, identity(row))
        except EnvelopeError as exc:
            why = f"claiming to be agent {row.name!r}: {exc}"

    raise EnvelopeError(f"refused a message {why}")  # the caller audits it


def heartbeat(session: Session, row: Agent, *, in_flight: int, version: str, now: datetime) -> None:
    row.last_heartbeat = now
    row.in_flight = max(0, int(in_flight))
    row.version = str(version)[:32]


def offline_zone_connectors(session: Session, now: datetime) -> frozenset[int]:
    """Connectors outside ``local`` whose zone has no live approved agent: their work waits."""
    from data.models import Connector

    zones = set(session.scalars(select(Connector.zone).where(Connector.zone != "local")))
    down = zones - online_zones(session, zones, now)
    if not down:
        return frozenset()
    return frozenset(session.scalars(select(Connector.id).where(Connector.zone.in_(down))))
