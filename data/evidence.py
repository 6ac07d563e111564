"""Evidence pack of one work order: everything a reviewer of the change needs, provable.

The pack is a ZIP holding ``evidence.json`` (the facts), ``evidence.pdf`` (the same,
readable) and ``manifest.json`` (the SHA-256 of each file). The facts: the work order and
its request, the pinned plan and its digest, each approval with the digest it approved,
the push attempts with what each endpoint served before (preflight) and after (the
deciding verification sweep), any rollback, and the audit events of the work order with
their chain links. ``verify_pack`` checks a pack against itself (manifest, plan digest,
each event's hash) and, given a database, against the live audit chain.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from data.domain.errors import CertpushError, PermissionDenied
from data.domain.workflow import work_order_id
from data.models import (
    AuditEvent,
    Endpoint,
    PushAttempt,
    PushPlan,
    VerificationResult,
    WorkOrder,
)
from data.push_plans import canonical, current_plan
from data.push_verdicts import verdict_of
from data.workorders import work_order_detail

PACK_VERSION = 1
JSON_NAME, PDF_NAME, MANIFEST_NAME = "evidence.json", "evidence.pdf", "manifest.json"


class EvidenceError(CertpushError):
    """A pack cannot be made, or is not what it claims to be."""


# Who may take a change's evidence away: the people who review, carry it out or answer for it.
EVIDENCE_ROLES = ("reviewer", "implementer", "manager", "admin")


def require_evidence_role(username: str, role: str) -> None:
    """The one check the CLI and the Work orders page make before building a pack."""
    if role not in EVIDENCE_ROLES:
        raise PermissionDenied(
            f"{username} ({role}) may not export evidence: reviewers, implementers, "
            "managers and admins only"
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _event_json(row: AuditEvent) -> dict[str, Any]:
    """An audit event as the pack holds it, with its chain link when the trail has one."""
    event: dict[str, Any] = {
        "id": row.id,
        "at": _iso(row.at),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "detail": row.detail,
        "user_id": row.user_id,
    }
    for name in ("seq", "prev_hash", "hash"):  # the tamper-evident chain (data/audit.py)
        if hasattr(row, name):
            event[name] = getattr(row, name)
    return event


def _audit_events(session: Session, label: str, digests: set[str], attempts: list[int]):
    """The work order's audit events: its own, and the pushes that name its plan or its
    attempts (the push audit names the connector, the plan digest and the attempt)."""
    clauses = [AuditEvent.target == label]
    clauses += [AuditEvent.detail.contains(d) for d in digests]
    clauses += [AuditEvent.detail.contains(f"attempt {a}") for a in attempts]
    return session.scalars(select(AuditEvent).where(or_(*clauses)).order_by(AuditEvent.id)).all()


def build_evidence(session: Session, wo_id: int, *, now: datetime) -> dict[str, Any]:
    """The facts of one work order's change, as the pack's ``evidence.json`` holds them."""
    label = work_order_id(wo_id)
    detail = work_order_detail(session, wo_id)  # raises NotFound for an unknown work order
    plan = current_plan(session, wo_id)
    plans = session.scalars(
        select(PushPlan).where(PushPlan.work_order_id == wo_id).order_by(PushPlan.id)
    ).all()
    attempts = session.scalars(
        select(PushAttempt).where(PushAttempt.work_order_id == wo_id).order_by(PushAttempt.id)
    ).all()
    wo = session.get(WorkOrder, wo_id)
    after: dict[tuple, dict[str, Any]] = {}  # what the deciding sweep saw, per endpoint
    if wo is not None and wo.verified_at is not None:
        for r, host, port in session.execute(
            select(VerificationResult, Endpoint.host, Endpoint.port)
            .join(Endpoint, Endpoint.id == VerificationResult.endpoint_id)
            .where(
                VerificationResult.work_order_id == wo_id, VerificationResult.at == wo.verified_at
            )
        ):
            after[(host, port, r.sni or None)] = {
                "served": r.served_fingerprint, "outcome": r.outcome, "reason": r.reason,
                "checked_at": _iso(r.at),
            }  # fmt: skip
    before = {
        (e["host"], e["port"], e.get("sni")): e.get("now") or {}
        for e in ((plan.preflight or {}).get("endpoints", []) if plan else [])
    }
    endpoints = []
    for e in plan.body.get("endpoints", []) if plan else []:
        key = (e["host"], e["port"], e.get("sni"))
        seen = after.get(key) or {}
        endpoints.append({
            "host": e["host"], "port": e["port"], "sni": e.get("sni"),
            "expected": plan.body["certificate"]["fingerprint"],
            "before": (before.get(key) or {}).get("fingerprint"),
            "after": seen.get("served"), "outcome": seen.get("outcome"),
            "reason": seen.get("reason"), "checked_at": seen.get("checked_at"),
        })  # fmt: skip
    verdict = verdict_of(session, wo_id)
    digests = {p.digest for p in plans}
    events = _audit_events(session, label, digests, [a.id for a in attempts])
    return {
        "evidence_version": PACK_VERSION,
        "made_at": now.isoformat(),
        "work_order": {k: v for k, v in detail.items() if k not in ("plan", "approvals")},
        "plan": plan.to_json() if plan else None,
        "earlier_plans": [
            {"digest": p.digest, "created_at": _iso(p.created_at)}
            for p in plans
            if plan is None or p.id != plan.id
        ],
        "approvals": detail["approvals"],
        "push_attempts": [
            {
                "id": a.id,
                "kind": a.kind,  # install, verify, rollback, rollback_verify
                "try": a.try_number,
                "actor": a.actor,
                "started_at": _iso(a.started_at),
                "finished_at": _iso(a.finished_at),
                "outcome": a.outcome,
                "failure": a.reason_class,
                "reason": a.reason,
            }
            for a in attempts
        ],
        "endpoints": endpoints,
        "verdict": verdict.to_json() if verdict else None,
        "rollback": [
            {
                "kind": a.kind,
                "outcome": a.outcome,
                "reason": a.reason,
                "started_at": _iso(a.started_at),
                "finished_at": _iso(a.finished_at),
            }
            for a in attempts
            if a.kind in ("rollback", "rollback_verify")
        ]
        or None,
        "audit_events": [_event_json(e) for e in events],
        # The audit chain's head when the pack was made: keep it apart, and
        # `certpush audit verify --expect SEQ:HASH` proves the trail kept everything up to it.
        "audit_chain_head": _head(session),
    }


def _head(session: Session) -> dict[str, Any]:
    from data.audit_chain import chain_head

    head = chain_head(session)
    return {"seq": head.seq, "hash": head.hash}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_pack(evidence: dict[str, Any], pdf: bytes) -> bytes:
    """The ZIP: the facts, the readable PDF, and a manifest of their SHA-256."""
    facts = json.dumps(evidence, indent=1, sort_keys=True, ensure_ascii=False).encode()
    manifest = {
        "evidence_version": PACK_VERSION,
        "work_order": evidence["work_order"]["id"],
        "files": {JSON_NAME: _sha256(facts), PDF_NAME: _sha256(pdf)},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as pack:
        pack.writestr(JSON_NAME, facts)
        pack.writestr(PDF_NAME, pdf)
        pack.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True))
    return out.getvalue()


@dataclass
class PackCheck:
    """What ``verify_pack`` found: ``problems`` empty means the pack holds."""

    work_order: str = ""
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "work_order": self.work_order, "checked": self.checked,
                "problems": self.problems}  # fmt: skip


def read_pack(data: bytes) -> tuple[dict[str, Any], dict[str, Any], dict[str, bytes]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as pack:
            files = {name: pack.read(name) for name in pack.namelist()}
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise EvidenceError(f"not an evidence pack: {exc}") from None
    try:
        manifest = json.loads(files[MANIFEST_NAME])
        evidence = json.loads(files[JSON_NAME])
    except (KeyError, ValueError) as exc:
        raise EvidenceError(f"not an evidence pack: {exc}") from None
    return manifest, evidence, files


def verify_pack(
    data: bytes,
    *,
    event_hash: Callable[[dict[str, Any]], str] | None = None,
    live: Callable[[list[int]], dict[int, dict[str, Any]]] | None = None,
) -> PackCheck:
    """Check a pack against itself and, with ``live`` (events by id from the database),
    against the live audit trail. ``event_hash`` recomputes an event's chain hash."""
    manifest, evidence, files = read_pack(data)
    check = PackCheck(work_order=str(manifest.get("work_order", "")))
    for name, digest in (manifest.get("files") or {}).items():
        if name not in files:
            check.problems.append(f"{name} is missing from the pack")
        elif _sha256(files[name]) != digest:
            check.problems.append(f"{name} was changed after the pack was made (SHA-256 differs)")
    check.checked.append("manifest")
    plan = evidence.get("plan")
    if plan:
        body = {k: v for k, v in plan.items() if k not in ("digest", "created_at", "preflight")}
        if _sha256(canonical(body)) != plan.get("digest"):
            check.problems.append("the plan does not match its digest: it was edited")
        for approval in evidence.get("approvals", []):
            if approval.get("stands") and approval.get("plan_digest") != plan.get("digest"):
                check.problems.append(
                    f"{approval.get('action')} by {approval.get('by')} claims to stand but "
                    "names another plan"
                )
        check.checked.append("plan digest")
    events = evidence.get("audit_events", [])
    if event_hash is not None:
        for event in events:
            if "hash" in event and event_hash(event) != event["hash"]:
                check.problems.append(
                    f"audit event {event['id']} ({event['action']} by {event['actor']}) was "
                    "edited: its content no longer matches its hash"
                )
        check.checked.append("audit event hashes")
    if live is not None:
        rows = live([e["id"] for e in events])
        for event in events:
            row = rows.get(event["id"])
            if row is None:
                check.problems.append(f"audit event {event['id']} is not in the database")
            elif row.get("hash") != event.get("hash") or row.get("detail") != event["detail"]:
                check.problems.append(f"audit event {event['id']} differs from the database's copy")
        check.checked.append("live audit trail")
    return check
