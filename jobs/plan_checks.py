"""Preflight of stored push plans, in the scheduler process (never the web process).

A plan is checked when it is pinned (a job picks up plans awaiting preflight within
seconds) and again at push time when its evidence is older than CERTPUSH_PLAN_MAX_AGE.
The results are stored with the plan; a blocker refuses Approve and Implement
(data/workorders.py) and stops a push before the device is touched.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select

from data.config import Settings
from data.connectors import open_secret
from data.crypto import Vault
from data.db import session_scope
from data.domain.errors import CertpushError
from data.models import Certificate, Connector
from data.profiles import load_book
from data.push_plans import (
    PlanView,
    get_plan,
    plans_awaiting_preflight,
    record_preflight,
    refresh_plans,
)
from jobs.keyring import job_vault
from jobs.preflight import device_facts, run_preflight, system_roots
from jobs.push import material_for

log = logging.getLogger("certpush.preflight")
MAX_PER_TICK = 10


def inventory_roots(session) -> list[x509.Certificate]:
    """Self-signed CA certificates in the inventory: roots an estate trusts privately."""
    roots = []
    for der in session.scalars(
        select(Certificate.der).where(
            Certificate.is_ca.is_(True), Certificate.subject == Certificate.issuer
        )
    ):
        try:
            roots.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return roots


def check_plan(
    database_url: str,
    vault: Vault,
    plan: PlanView,
    *,
    now: datetime,
    min_days_left: int,
    broker_url: str | None = None,
    broker_ca: Path | None = None,
) -> dict[str, Any]:
    """Run every preflight check of one stored plan and store the result with it.

    With a broker, the device's side of a connector in another zone is checked by that
    zone's agents (jobs/zones/preflight.py); the certificate's checks stay here."""
    body = plan.body
    zone = "local"
    with session_scope(database_url) as session:
        cert = session.scalar(
            select(Certificate).where(
                Certificate.fingerprint_sha256 == body["certificate"]["fingerprint"]
            )
        )
        connector = session.scalar(
            select(Connector).where(Connector.name == body["connector"]["name"])
        )
        try:
            if cert is None or connector is None:
                raise CertpushError("the plan's certificate or connector no longer exists")
            material = material_for(session, vault, cert)
            secret = open_secret(session, vault, connector.name)
            kind = connector.secret_kind
            zone = connector.zone or "local"
            roots = inventory_roots(session) + system_roots()
        except CertpushError as exc:
            result = _blocked(str(exc), now)
            record_preflight(session, plan.id, result, now)
            return result
    device = device_facts
    if broker_url and zone != "local":
        from jobs.zones.preflight import remote_device

        device = remote_device(database_url, broker_url, zone, work_order_id=plan.work_order_id,
                               broker_ca=broker_ca)  # fmt: skip
    try:
        result = run_preflight(
            body, cert_pem=material.cert_pem, key_pem=material.key_pem,
            chain_pem=material.chain_pem, secret=secret, secret_kind=kind, roots=roots,
            now=now, min_days_left=min_days_left, device=device,
        )  # fmt: skip
    except CertpushError as exc:
        result = _blocked(str(exc), now)
    if getattr(device, "unseen", False):
        result["zone"] = zone  # the device was not seen from its zone: check again at push
    profile = body.get("profile") or {}
    if profile.get("needs_review"):
        name = profile.get("name")
        result["checks"].append({
            "name": "profile", "status": "warning",
            "message": f"profile {name} was made from the connector's former free commands "
            f"and needs an admin's review: read its commands, then run certpush profiles "
            f"review {name} --as ADMIN",
        })  # fmt: skip
        if result["status"] == "ok":
            result["status"] = "warning"
    with session_scope(database_url) as session:
        record_preflight(session, plan.id, result, now)
    return result


def _blocked(message: str, now: datetime) -> dict[str, Any]:
    return {
        "at": now.isoformat(),
        "status": "blocker",
        "checks": [{"name": "plan", "status": "blocker", "message": message}],
        "endpoints": [],
    }


def is_stale(plan: PlanView, now: datetime, max_age: timedelta) -> bool:
    """Whether the push must run preflight again: never run, too old, or its zone's
    agents could not be asked then."""
    if plan.preflight_at is None or now - plan.preflight_at > max_age:
        return True
    return bool((plan.preflight or {}).get("zone"))


def preflight_pending() -> None:
    """Scheduler job: check the plans pinned since the last tick."""
    settings = Settings.from_env()
    vault = job_vault(settings)
    if vault is None:
        return
    with session_scope(settings.database_url) as session:
        waiting = plans_awaiting_preflight(session, limit=MAX_PER_TICK)
    for plan_id in waiting:
        with session_scope(settings.database_url) as session:
            plan = get_plan(session, plan_id)
        if plan is None:
            continue
        try:
            check_plan(settings.database_url, vault, plan, now=datetime.now(UTC),
                       min_days_left=settings.min_days_left,
                       broker_url=settings.broker_url, broker_ca=settings.broker_ca)  # fmt: skip
        except Exception:  # one broken plan must not stop the others being checked
            log.exception("preflight of plan %s failed", plan_id)


def refresh_open_plans() -> None:
    """Scheduler job: build the plans of open work orders again, so that a changed device
    profile file or a certificate chain changed by an import voids the approvals at once
    (the push re-checks anyway, right before it runs)."""
    settings = Settings.from_env()
    with session_scope(settings.database_url) as session:
        book = load_book(settings, session)
        why = "what the plan is built from changed"
        said = refresh_plans(session, book, now=datetime.now(UTC), why=why, actor="scheduler")
    for line in said:
        log.warning("%s", line)
