"""Performing a push: certificate + key + chain through one connector, recorded.

The database transaction is closed while the device is being talked to (a push
can take seconds; nothing should hold a write lock that long), then a second
short transaction records the attempt and its audit event. Whatever happens on
the device, an attempt row is written with a typed outcome and a human reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from data import audit
from data.connectors import (
    begin_push_attempt,
    certificate_by_fingerprint,
    finish_push_attempt,
    is_bound,
    open_secret,
    record_push_attempt,
)
from data.crypto import Vault
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.profiles import ProfileBook
from data.domain.status import is_expired
from data.models import Certificate, Connector, PrivateKey, PushAttempt
from data.profiles import book_for
from data.push_plans import FILE_TYPES, PlanError, chain_of, plan_body
from data.sealed import open_sealed, private_key_context
from jobs.connectors.base import (
    FailureClass,
    InstallOutcome,
    InstallPlan,
    InstallResult,
    Material,
)
from jobs.connectors.registry import connector_class


class PushRefused(CertpushError):
    """The push must not start (revoked, expired, no key, not bound)."""


@dataclass(frozen=True)
class PushReport:
    certificate: str
    connector: str
    outcome: InstallOutcome
    failure: FailureClass | None
    reason: str
    duration_ms: int
    attempt_id: int
    restored_fingerprint: str | None = None  # a rollback's: what the device holds again

    def to_json(self) -> dict[str, object]:
        return {
            "certificate": self.certificate,
            "connector": self.connector,
            "outcome": self.outcome.value,
            "failure": self.failure.value if self.failure else None,
            "reason": self.reason,
            "duration_ms": self.duration_ms,
            "attempt_id": self.attempt_id,
        }


def _pem(der: bytes) -> bytes:
    from cryptography import x509

    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def chain_pem(session: Session, cert: Certificate) -> bytes:
    """Intermediates found in the inventory by issuer name, leaf-side first; roots left out."""
    return b"".join(_pem(c.der) for c in chain_of(session, cert))


def material_for(session: Session, vault: Vault, cert: Certificate) -> Material:
    key_row = (
        session.scalar(select(PrivateKey).where(PrivateKey.spki_sha256 == cert.spki_sha256))
        if cert.spki_sha256
        else None
    )
    if key_row is None:
        raise PushRefused(
            "this certificate has no private key in certpush: import its key first "
            "(PEM, PKCS#8 or PKCS#12)"
        )
    spki = key_row.spki_sha256
    pkcs8 = open_sealed(session, vault, key_row.sealed_pkcs8, private_key_context(spki),
                        target=f"private key {spki}", actor="certpush")  # fmt: skip
    key_pem = serialization.load_der_private_key(pkcs8, None).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Material(cert.fingerprint_sha256, _pem(cert.der), key_pem, chain_pem(session, cert))


def check_pushable(cert: Certificate, now: datetime) -> None:
    """Refuse what must never be installed, with the reason a person needs."""
    name = cert.common_name or cert.fingerprint_sha256[:16]
    if cert.revoked_at is not None:
        raise PushRefused(f"{name} is revoked ({cert.revocation_reason or 'no reason given'}): "
                          "pushing it is refused")  # fmt: skip
    if is_expired(cert.not_after, now):
        raise PushRefused(f"{name} expired on {cert.not_after:%Y-%m-%d}: pushing it is refused")


def record_push(
    session: Session,
    *,
    certificate_id: int,
    connector_id: int,
    connector_name: str,
    fingerprint: str,
    actor: str,
    started: datetime,
    finished: datetime,
    result: InstallResult,
    work_order_id: int | None = None,
) -> PushAttempt:
    """Store what one install came to as one finished attempt and its audit event.

    Used where no device is touched (the demo's history replays outcomes it chose, see
    jobs/demo_history.py); a real push records its attempt before it starts (``execute_plan``).
    """
    attempt = record_push_attempt(
        session,
        certificate_id=certificate_id,
        connector_id=connector_id,
        actor=actor,
        started_at=started,
        finished_at=finished,
        outcome=result.outcome.value,
        reason_class=result.failure.value if result.failure else None,
        reason=result.reason,
        work_order_id=work_order_id,
    )
    audit.record(
        session,
        actor=actor,
        action=f"push.{result.outcome.value}",
        now=finished,
        target=connector_name,
        detail=f"certificate {fingerprint}: {result.reason}",
    )
    return attempt


def connector_settings(body: dict[str, Any]) -> dict[str, Any]:
    """What a connector implementation is given: the plan's target, never live settings
    (plug-in types, which have no profile, carry their settings in the plan's target)."""
    connector = body["connector"]
    target = connector.get("target") or {}
    if connector["type"] == "ssh":
        return {
            "host": target.get("host"),
            "port": target.get("port", 22),
            "username": target.get("username"),
            "host_key_fingerprint": target.get("host_key"),
            "connect_timeout": (body.get("timeouts") or {}).get("connect", 10),
        }
    if connector["type"] == "local":
        return {}
    return dict(target)


def execute_plan(
    database_url: str,
    vault: Vault,
    body: dict[str, Any],
    *,
    actor: str,
    digest: str | None = None,
    work_order_id: int | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    try_number: int = 1,
    rollback: bool = False,
    broker_url: str | None = None,
    broker_ca: Path | None = None,
) -> PushReport:
    """Install exactly what ``body`` (a push plan) says and record the attempt; with
    ``rollback``, undo that install instead (the previous files the install kept go back,
    then the plan's test and reload), recorded as a rollback attempt.

    The attempt and its audit event are committed before the device is touched; the
    certificate, key and chain are taken from the inventory and must be the plan's.
    With ``broker_url``, a connector of another zone than ``local`` is pushed by that
    zone's agents (jobs/zones/pushes.py), everything else unchanged.
    """
    now = clock()
    fingerprint = body["certificate"]["fingerprint"]
    connector_name = body["connector"]["name"]
    with session_scope(database_url) as session:
        cert = certificate_by_fingerprint(session, fingerprint)
        if not rollback:  # undoing a push is allowed whatever became of the certificate
            check_pushable(cert, now)
        connector = session.scalar(select(Connector).where(Connector.name == connector_name))
        if connector is None or connector.type != body["connector"]["type"]:
            raise PushRefused(f"app connector {connector_name!r} no longer exists as planned")
        if not is_bound(session, cert.id, connector.id):
            raise PushRefused(
                f"app connector {connector_name!r} is not bound to this certificate: bind it first"
            )
        chain = [c.fingerprint_sha256 for c in chain_of(session, cert)]
        if not rollback and chain != list(body["certificate"].get("chain", [])):
            raise PushRefused(
                "the certificate's chain in the inventory changed since the plan was made: "
                "the plan must be made and approved again"
            )
        material = None if rollback else material_for(session, vault, cert)
        # Another zone's agents build the connector there (jobs/zones/pushes.py).
        zone = (connector.zone or "local") if broker_url else "local"
        secret = open_secret(session, vault, connector_name)
        remote = {"type": connector.type, "settings": connector_settings(body),
                  "secret_kind": connector.secret_kind}  # fmt: skip
        implementation = None
        if zone == "local":
            implementation = connector_class(connector.type)(
                settings=remote["settings"],
                secret=secret,
                secret_kind=connector.secret_kind,
                plan=InstallPlan.from_plan(body) if connector.type in FILE_TYPES else None,
            )
        cert_id, connector_id = cert.id, connector.id
    started, tick = clock(), time.monotonic()
    with session_scope(database_url) as session:  # committed before the device is touched
        attempt_id = begin_push_attempt(
            session,
            certificate_id=cert_id,
            connector_id=connector_id,
            connector_name=connector_name,
            fingerprint=fingerprint,
            actor=actor,
            started_at=started,
            work_order_id=work_order_id,
            plan_digest=digest,
            kind="rollback" if rollback else "install",
            try_number=try_number,
        )
    try:
        if implementation is None:
            from jobs.zones.pushes import ZoneOffline, remote_install

            seconds = float((body.get("timeouts") or {}).get("push", 180)) + 30
            try:
                result = remote_install(database_url, broker_url, zone, body=body,
                                        connector=remote, material=material, secret=secret,
                                        rollback=rollback, work_order_id=work_order_id,
                                        seconds=seconds, broker_ca=broker_ca)  # fmt: skip
            except ZoneOffline as exc:
                result = InstallResult(InstallOutcome.FAILED, str(exc), FailureClass.UNREACHABLE)
        else:
            result = implementation.rollback() if rollback else implementation.install(material)
    except Exception as exc:  # a connector bug must still leave an attempt record
        result = InstallResult(
            InstallOutcome.FAILED,
            f"the {connector_name} connector crashed: {type(exc).__name__}",
            FailureClass.UNKNOWN,
        )
    outcome = result.outcome.value
    if rollback and result.ok:
        outcome = "restored"
    finished = clock()
    duration_ms = int((time.monotonic() - tick) * 1000)
    with session_scope(database_url) as session:
        finish_push_attempt(
            session,
            attempt_id,
            finished_at=finished,
            outcome=outcome,
            reason_class=result.failure.value if result.failure else None,
            reason=result.reason,
        )
        audit.record(
            session,
            actor=actor,
            action=f"push.rollback.{outcome}" if rollback else f"push.{outcome}",
            now=finished,
            target=connector_name,
            detail=f"certificate {fingerprint}: {result.reason}"
            + (f"; plan {digest}" if digest else "")
            + f"; attempt {attempt_id}",
        )
    return PushReport(
        fingerprint,
        connector_name,
        result.outcome,
        result.failure,
        result.reason,
        duration_ms,
        attempt_id,
        result.restored_fingerprint,
    )


def push_certificate(
    database_url: str,
    vault: Vault,
    fingerprint: str,
    connector_name: str,
    *,
    actor: str,
    work_order_id: int | None = None,
    book: ProfileBook | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PushReport:
    """Plan from the stored facts now, then execute that plan (tests and benchmarks drive
    connectors this way; work orders execute the plan pinned when they were requested)."""
    with session_scope(database_url) as session:
        cert = certificate_by_fingerprint(session, fingerprint)
        check_pushable(cert, clock())
        connector = session.scalar(select(Connector).where(Connector.name == connector_name))
        if connector is None or not is_bound(session, cert.id, connector.id):
            raise PushRefused(
                f"app connector {connector_name!r} is not bound to this certificate: bind it first"
            )
        try:
            body = plan_body(session, cert, connector, book or book_for(session), None)
        except PlanError as exc:
            raise PushRefused(str(exc)) from None
    return execute_plan(
        database_url, vault, body, actor=actor, work_order_id=work_order_id, clock=clock
    )
