"""Hand-built report data: pushes with known outcomes at known instants.

Reports are about history, so these tests write the rows a year of pushes and sweeps
would have left (work orders, attempts, sweeps, results) directly, with every value
chosen by the test, instead of replaying a year against real devices. The push and
sweep code that writes such rows is tested against real servers elsewhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from data.models import (
    Certificate,
    Connector,
    Endpoint,
    PushAttempt,
    PushRequest,
    VerificationResult,
    VerificationSweep,
    WorkOrder,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ReportWorld:
    """Adds certificates, connectors with endpoints, and pushes with their sweeps."""

    session: Session
    endpoints: dict[int, list[int]] = field(default_factory=dict)  # connector id → endpoint ids

    def certificate(self, cn: str, not_after: datetime, *, revoked: bool = False) -> Certificate:
        cert = Certificate(
            fingerprint_sha256=fingerprint(cn),
            common_name=cn,
            subject=f"CN={cn}",
            issuer="CN=Test CA",
            sans=f"DNS:{cn}",
            serial=str(abs(hash(cn)) % 10**12),
            not_before=not_after - timedelta(days=365),
            not_after=not_after,
            key_type="EC",
            key_size=256,
            signature_algorithm="ecdsa-with-SHA256",
            der=cn.encode(),
            imported_at=T0,
            revoked_at=T0 if revoked else None,
        )
        self.session.add(cert)
        self.session.flush()
        return cert

    def connector(self, name: str, type_: str = "ssh", endpoints: int = 1) -> Connector:
        conn = Connector(
            name=name,
            type=type_,
            settings='{"host": "127.0.0.1"}',
            secret_kind="password",
            sealed_secret=b"SEALED-SECRET-NEVER-EXPORTED",
            created_at=T0,
            created_by="test",
        )
        self.session.add(conn)
        self.session.flush()
        eps = [
            Endpoint(connector_id=conn.id, host="127.0.0.1", port=8443 + i)
            for i in range(endpoints)
        ]
        self.session.add_all(eps)
        self.session.flush()
        self.endpoints[conn.id] = [e.id for e in eps]
        return conn

    def push(
        self,
        cert: Certificate,
        conn: Connector,
        *,
        requested: datetime,
        pushed: datetime,
        installed: bool = True,
        reason_class: str | None = None,
        sweeps: list[tuple[datetime, list[str]]] = (),
        requester: str = "olivia",
    ) -> WorkOrder:
        """A push ended at ``pushed``; each sweep is (when, one outcome per endpoint).

        The first sweep decides the verdict, as jobs/verify.py does; later ones only
        add result rows.
        """
        req = PushRequest(
            certificate_id=cert.id, requester=requester, comment="", created_at=requested
        )
        self.session.add(req)
        self.session.flush()
        wo = WorkOrder(
            request_id=req.id,
            connector_id=conn.id,
            status="Completed" if installed else "Failed",
            version=5,
            levels_done=2,
            reason="" if installed else f"push failed: {reason_class or 'interrupted'}",
            created_at=requested,
            updated_at=pushed,
            pushed_at=pushed,
        )
        self.session.add(wo)
        self.session.flush()
        if installed or reason_class:
            self.session.add(
                PushAttempt(
                    certificate_id=cert.id,
                    connector_id=conn.id,
                    actor="scheduler",
                    started_at=pushed - timedelta(seconds=2),
                    finished_at=pushed,
                    outcome="installed" if installed else "failed",
                    reason_class=None if installed else reason_class,
                    reason="" if installed else reason_class,
                    duration_ms=2000,
                    work_order_id=wo.id,
                )
            )
        for i, (at, outcomes) in enumerate(sweeps):
            sweep = VerificationSweep(
                started_at=at - timedelta(seconds=1),
                finished_at=at,
                trigger="test",
                endpoints=len(outcomes),
                summary="{}",
            )
            self.session.add(sweep)
            self.session.flush()
            for endpoint_id, outcome in zip(self.endpoints[conn.id], outcomes, strict=True):
                served = cert.fingerprint_sha256 if outcome == "match" else None
                if outcome == "mismatch":
                    served = fingerprint("someone else")
                self.session.add(
                    VerificationResult(
                        sweep_id=sweep.id,
                        endpoint_id=endpoint_id,
                        connector_id=conn.id,
                        certificate_id=cert.id,
                        work_order_id=wo.id,
                        at=at,
                        expected_fingerprint=cert.fingerprint_sha256,
                        served_fingerprint=served,
                        outcome=outcome,
                        reason=outcome,
                        latency_ms=3,
                        drift=False,
                    )
                )
            if i == 0:
                wo.verification = "verified" if all(o == "match" for o in outcomes) else "failed"
                wo.verified_at = at
        self.session.flush()
        return wo
