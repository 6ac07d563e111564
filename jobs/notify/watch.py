"""Events that are not work-order moves: drift, bound certificates turning Orange or Red,
agents and zones going silent.

Each is written with data.notifications.emit in the same transaction as what it tells
(the drifted result rows; the remembered colour or liveness), so a crash neither loses an
alert nor sends it twice. The rules of "worth telling" are data/domain/alerts.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from data.agents import list_agents, online_zones
from data.config import Settings
from data.db import session_scope
from data.domain.alerts import (
    LIVE,
    OFFLINE,
    agent_key,
    colour_key,
    expiry_alert_due,
    offline_alert_due,
    zone_key,
)
from data.domain.notifications import EventKind, Relevance
from data.domain.status import Status, days_left
from data.domain.verification import SERVED
from data.domain.zones import AgentState
from data.models import (
    Binding,
    Certificate,
    Connector,
    Endpoint,
    NotifyState,
    PushRequest,
    VerificationResult,
    WorkOrder,
)
from data.notifications import emit, remember, remembered
from data.queries import STATUS_COLUMNS, status_condition, status_of


def topology_path(fingerprint: str) -> str:
    return f"/certificates/{fingerprint}/topology"


def certificate_payload(cert: Any) -> dict[str, str]:
    """What a message shows of a certificate (a Certificate row or a BoundCertificate)."""
    return {
        "common_name": cert.common_name or getattr(cert, "subject", "") or "",
        "fingerprint": cert.fingerprint_sha256,
        "not_after": cert.not_after.isoformat(),
    }


# ---------------------------------------------------------------------------------- drift


def announce_drift(session: Session, rows: Sequence[Mapping[str, Any]], now: datetime) -> list[int]:
    """DRIFT_DETECTED for each endpoint these result rows newly mark as drifted.

    Called by jobs/verify.py with a round's rows before they are inserted, in the same
    transaction. "Newly": the endpoint's previous result that saw a certificate (match or
    mismatch; a timeout says nothing) was not drift, so an endpoint that stays drifted is
    told once, and again only after it served ours in between.
    """
    drifted = {r["endpoint_id"]: r for r in rows if r["drift"]}
    if not drifted:
        return []
    latest_seen = (
        select(func.max(VerificationResult.id))
        .where(
            VerificationResult.endpoint_id.in_(list(drifted)),
            VerificationResult.outcome.in_([o.value for o in SERVED]),
        )
        .group_by(VerificationResult.endpoint_id)
    )
    still = set(
        session.scalars(
            select(VerificationResult.endpoint_id).where(
                VerificationResult.id.in_(latest_seen), VerificationResult.drift.is_(True)
            )
        )
    )
    made = []
    for endpoint_id, row in sorted(drifted.items()):
        if endpoint_id in still:
            continue
        endpoint = session.get(Endpoint, endpoint_id)
        connector = session.get(Connector, row["connector_id"])
        cert = session.get(Certificate, row["certificate_id"])
        if endpoint is None or connector is None or cert is None:
            continue
        audience: dict[str, Relevance] = {}
        requester = _requester(session, row.get("work_order_id"))
        if requester:
            audience[requester] = Relevance.REQUESTER
        made.append(
            emit(
                session,
                EventKind.DRIFT_DETECTED,
                now=now,
                payload={
                    "event": EventKind.DRIFT_DETECTED.value,
                    "certificate": certificate_payload(cert),
                    "connector": {"name": connector.name, "zone": connector.zone or "local"},
                    "endpoint": f"{endpoint.host}:{endpoint.port}",
                    "served_fingerprint": row.get("served_fingerprint"),
                    "at": now.isoformat(),
                    "path": topology_path(cert.fingerprint_sha256),
                },
                actor="verification",
                work_order=row.get("work_order_id"),
                audience=audience,
            )
        )
    return made


def _requester(session: Session, wo_id: int | None) -> str | None:
    """Who requested the push the endpoint should be serving (the last completed one)."""
    if wo_id is None:
        return None
    return session.scalar(
        select(PushRequest.requester)
        .join(WorkOrder, WorkOrder.request_id == PushRequest.id)
        .where(WorkOrder.id == wo_id)
    )


# ----------------------------------------------------------------- bound certificates


@dataclass(frozen=True)
class BoundCertificate:
    """A certificate bound to at least one connector, with its colour at ``now``."""

    fingerprint_sha256: str
    common_name: str
    not_after: datetime
    colour: Status
    days_left: int
    connectors: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "common_name": self.common_name,
            "fingerprint": self.fingerprint_sha256,
            "colour": self.colour.value,
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
            "connectors": list(self.connectors),
            "path": topology_path(self.fingerprint_sha256),
        }


def bound_certificates(
    session: Session, now: datetime, colours: Iterable[Status] | None = None
) -> list[BoundCertificate]:
    """Every certificate bound to a connector (or only those of ``colours``), with the
    connectors serving it; the colour is the one rule every page shows (data/queries)."""
    query = (
        select(
            Certificate.fingerprint_sha256,
            Certificate.common_name,
            Certificate.subject,
            *STATUS_COLUMNS,
            Connector.name.label("connector"),
        )
        .join(Binding, Binding.certificate_id == Certificate.id)
        .join(Connector, Connector.id == Binding.connector_id)
        .order_by(Certificate.not_after, Certificate.fingerprint_sha256, Connector.name)
    )
    if colours is not None:
        query = query.where(or_(*(status_condition(c, now) for c in colours)))
    found: dict[str, BoundCertificate] = {}
    serving: dict[str, list[str]] = defaultdict(list)
    for r in session.execute(query):
        serving[r.fingerprint_sha256].append(r.connector)
        if r.fingerprint_sha256 not in found:
            found[r.fingerprint_sha256] = BoundCertificate(
                r.fingerprint_sha256,
                r.common_name or r.subject,
                r.not_after,
                status_of(r, now),
                days_left(r.not_after, now),
                (),
            )
    return [replace(c, connectors=tuple(serving[fp])) for fp, c in found.items()]


def watch_expiry(database_url: str, *, now: datetime) -> list[int]:
    """EXPIRY_ALERT for each bound certificate that entered Orange or Red since the last
    look; returns the events written.

    One transaction per certificate whose colour changed: the alert and the remembered
    colour commit together, so a crash between two certificates loses nothing and a
    rerun tells nothing twice.
    """
    with session_scope(database_url) as session:
        certificates = bound_certificates(session, now)
        told = dict(
            session.execute(
                select(NotifyState.key, NotifyState.value).where(
                    NotifyState.key.like(colour_key("%"))
                )
            ).all()
        )
    made = []
    for cert in certificates:
        key = colour_key(cert.fingerprint_sha256)
        if told.get(key) == cert.colour.value:
            continue
        with session_scope(database_url) as session:
            before = remembered(session, key)
            if before == cert.colour.value:
                continue
            if expiry_alert_due(before, cert.colour):
                made.append(_expiry_alert(session, cert, now))
            remember(session, key, cert.colour.value, now=now)
    return made


def _expiry_alert(session: Session, cert: BoundCertificate, now: datetime) -> int:
    return emit(
        session,
        EventKind.EXPIRY_ALERT,
        now=now,
        payload={
            "event": EventKind.EXPIRY_ALERT.value,
            "certificate": certificate_payload(cert),
            "colour": cert.colour.value,
            "days_left": cert.days_left,
            "connectors": list(cert.connectors),
            "at": now.isoformat(),
            "path": topology_path(cert.fingerprint_sha256),
        },
        actor="expiry watch",
    )


# ------------------------------------------------------------------------ agents, zones


def watch_agents(database_url: str, *, now: datetime) -> list[int]:
    """AGENT_OFFLINE for each approved agent that stopped being live, ZONE_OFFLINE for each
    zone with approved agents and none live; coming back is remembered silently so the
    next loss alerts again. One transaction: alerts and memory commit together."""
    made = []
    with session_scope(database_url) as session:
        agents = [a for a in list_agents(session) if a.state is AgentState.APPROVED]
        zones = sorted({a.zone for a in agents})
        online = online_zones(session, zones, now)
        for agent in agents:
            live = agent.live(now)
            if _changed(session, agent_key(agent.name), live, now):
                made.append(_offline(session, EventKind.AGENT_OFFLINE, agent.zone, now,
                                     agent=agent.name))  # fmt: skip
        for zone in zones:
            if _changed(session, zone_key(zone), zone in online, now):
                made.append(_offline(session, EventKind.ZONE_OFFLINE, zone, now))
    return made


def _changed(session: Session, key: str, live: bool, now: datetime) -> bool:
    """Remember the liveness; True when it is a loss worth telling."""
    due = offline_alert_due(remembered(session, key), live)
    remember(session, key, LIVE if live else OFFLINE, now=now)
    return due


def _offline(
    session: Session, kind: EventKind, zone: str, now: datetime, agent: str | None = None
) -> int:
    payload: dict[str, Any] = {"event": kind.value, "zone": zone}
    if agent is not None:
        payload["agent"] = agent
    payload.update(at=now.isoformat(), path="/agents")
    return emit(session, kind, now=now, payload=payload, actor="agent watch")


# ------------------------------------------------------------------- scheduler entries


def expiry_job() -> None:
    """Scheduler job (module level so APScheduler can store it): every 10 minutes."""
    watch_expiry(Settings.from_env().database_url, now=datetime.now(UTC))


def agents_job() -> None:
    """Scheduler job: every 15 s, only with a broker (without one there are no agents)."""
    settings = Settings.from_env()
    if settings.broker_url:
        watch_agents(settings.database_url, now=datetime.now(UTC))
