"""Push plans: what one work order will write and run, pinned before anyone approves it.

A plan is built from the stored facts (certificate, its chain in the inventory, the
connector's target, files and endpoints, the device profile's layout and commands),
stored immutably with the SHA-256 of its canonical JSON, and executed as stored. When
anything it was built from changes before the push runs, the work order gets a new plan
and its approvals are void: what two people approved is what the device receives.
No device I/O here; preflight evidence is gathered by the scheduler (jobs/preflight.py).
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data import audit
from data.domain.errors import CertpushError
from data.domain.profiles import (
    LAYOUT_PATHS,
    PKCS12_PASSWORD_SUFFIX,
    Layout,
    ProfileBook,
    clean_path,
)
from data.domain.workflow import WorkOrderStatus, work_order_id
from data.models import (
    Binding,
    Certificate,
    Connector,
    Endpoint,
    PrivateKey,
    PushPlan,
    PushRequest,
    WorkOrder,
    WorkOrderEvent,
)

PLAN_VERSION = 1
MAX_CHAIN = 5
PENDING = "pending"

# Work orders whose plan may still change: nothing has been pushed for them yet.
OPEN = (
    WorkOrderStatus.APPROVAL_PENDING,
    WorkOrderStatus.REVIEW_IN_PROGRESS,
    WorkOrderStatus.SCHEDULED,
)


class PlanError(CertpushError):
    """A plan cannot be built (profile gone, path outside its folders, no key...)."""


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes the digest is taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def chain_of(session: Session, cert: Certificate) -> list[Certificate]:
    """Intermediates found in the inventory by issuer name, leaf-side first; roots left out."""
    out: list[Certificate] = []
    issuer, seen = cert.issuer, {cert.fingerprint_sha256}
    for _ in range(MAX_CHAIN):
        parent = session.scalar(
            select(Certificate)
            .where(Certificate.subject == issuer, Certificate.is_ca.is_(True))
            .order_by(Certificate.not_after.desc(), Certificate.id)
        )
        if parent is None or parent.fingerprint_sha256 in seen or parent.subject == parent.issuer:
            break
        out.append(parent)
        seen.add(parent.fingerprint_sha256)
        issuer = parent.issuer
    return out


def _key_description(session: Session, cert: Certificate) -> str:
    key = (
        session.scalar(select(PrivateKey).where(PrivateKey.spki_sha256 == cert.spki_sha256))
        if cert.spki_sha256
        else None
    )
    if key is None:
        raise PlanError(
            f"{cert.common_name or cert.fingerprint_sha256[:16]} has no private key in "
            "certpush: import its key first"
        )
    size = f" {cert.key_size}" if cert.key_size else ""
    return f"private key ({cert.key_type}{size})"


def _files(settings: dict[str, Any], layout: Layout, chain: int, key: str) -> list[dict]:
    """Every file the push writes, with its mode and what goes in it."""
    chain_text = f"{chain} intermediate{'s' if chain != 1 else ''}"
    cert_path = settings["cert_path"]
    if layout is Layout.SEPARATE:
        files = [{"path": cert_path, "mode": "0644", "parts": ["certificate"],
                  "contents": "certificate"}]  # fmt: skip
        if settings.get("chain_path"):
            files.append({"path": settings["chain_path"], "mode": "0644", "parts": ["chain"],
                          "contents": f"chain ({chain_text})"})  # fmt: skip
        files.append({"path": settings["key_path"], "mode": "0600", "parts": ["key"],
                      "contents": key})  # fmt: skip
        return files
    if layout is Layout.FULLCHAIN:
        return [
            {"path": cert_path, "mode": "0644", "parts": ["certificate", "chain"],
             "contents": f"certificate + {chain_text}"},
            {"path": settings["key_path"], "mode": "0600", "parts": ["key"], "contents": key},
        ]  # fmt: skip
    if layout is Layout.COMBINED:
        return [{"path": cert_path, "mode": "0600", "parts": ["certificate", "chain", "key"],
                 "contents": f"certificate + {chain_text} + {key}"}]  # fmt: skip
    return [
        {"path": cert_path, "mode": "0600", "parts": ["pkcs12"],
         "contents": f"PKCS#12: certificate + {chain_text} + {key}, encrypted with the "
                     "generated password"},
        {"path": cert_path + PKCS12_PASSWORD_SUFFIX, "mode": "0600", "parts": ["pkcs12_password"],
         "contents": "the PKCS#12 file's generated password"},
    ]  # fmt: skip


def check_paths(settings: dict[str, Any], profile_name: str, book: ProfileBook) -> dict[str, str]:
    """Problems of a connector's file paths against its profile, by setting name."""
    profile = book.get(profile_name)
    if profile is None:
        return {"profile": f"unknown device profile {profile_name!r}: choose one of "
                           f"{', '.join(book.names())} (certpush profiles list)"}  # fmt: skip
    errors: dict[str, str] = {}
    required, optional = LAYOUT_PATHS[profile.layout]
    for key in ("cert_path", "key_path", "chain_path"):
        value = settings.get(key)
        if key in required and not value:
            errors[key] = f"required by the {profile.layout.value} layout of profile {profile.name}"
        elif value and key not in required + optional:
            errors[key] = f"not used by the {profile.layout.value} layout of profile {profile.name}"
        elif value:
            try:
                normal = clean_path(value)
            except ValueError as exc:
                errors[key] = str(exc)
                continue
            if normal != value.rstrip("/"):
                errors[key] = "must be a plain absolute path (no '..', '.' or '//')"
            elif not profile.allows(normal):
                errors[key] = (
                    f"{value} is outside the folders profile {profile.name} may write to "
                    f"({', '.join(profile.folders)})"
                )
    return errors


FILE_TYPES = ("ssh", "local")  # built-in types that install files through a profile


def build_plan(session: Session, wo_id: int, book: ProfileBook) -> dict[str, Any]:
    """The plan body for a work order from the stored facts now (no digest, no preflight)."""
    wo = session.get(WorkOrder, wo_id)
    if wo is None:
        raise PlanError(f"no work order {work_order_id(wo_id)}")
    request = session.get(PushRequest, wo.request_id)
    cert = session.get(Certificate, request.certificate_id) if request else None
    connector = session.get(Connector, wo.connector_id)
    if cert is None or connector is None:
        raise PlanError(f"{work_order_id(wo_id)} lost its certificate or connector")
    return plan_body(session, cert, connector, book, work_order_id(wo_id))


def plan_body(
    session: Session, cert: Certificate, connector: Connector, book: ProfileBook, label: str | None
) -> dict[str, Any]:
    """What pushing ``cert`` through ``connector`` would write and run, from stored facts."""
    settings = json.loads(connector.settings)
    chain = chain_of(session, cert)
    key = _key_description(session, cert)
    endpoints = [
        {"host": host, "port": port, "sni": sni or None}
        for host, port, sni in session.execute(
            select(Endpoint.host, Endpoint.port, Endpoint.sni)
            .where(Endpoint.connector_id == connector.id)
            .order_by(Endpoint.id)
        )
    ]
    body: dict[str, Any] = {
        "version": PLAN_VERSION,
        "work_order": label,
        "certificate": {
            "fingerprint": cert.fingerprint_sha256,
            "common_name": cert.common_name,
            "not_after": cert.not_after.isoformat(),
            "chain": [c.fingerprint_sha256 for c in chain],
        },
        "endpoints": endpoints,
    }
    if connector.type not in FILE_TYPES:  # a plug-in type: its own settings are its plan
        body.update(
            connector={"name": connector.name, "type": connector.type, "target": settings},
            profile=None, files=[], commands={"test": None, "reload": None}, timeouts={},
        )  # fmt: skip
        return body
    profile_name = settings.get("profile", "")
    problems = check_paths(settings, profile_name, book)
    if problems:
        raise PlanError(
            f"connector {connector.name}: " + "; ".join(f"{k}: {v}" for k, v in problems.items())
        )
    profile = book.get(profile_name)
    assert profile is not None
    if connector.type == "local":
        if not book.local_connectors:
            raise PlanError(
                f"connector {connector.name} is local, and local connectors are turned off on "
                "this host (an administrator enables them with CERTPUSH_LOCAL_CONNECTORS=on)"
            )
        target: dict[str, Any] = {"host": socket.gethostname(), "local": True}
    else:
        target = {
            "host": settings.get("host"),
            "port": int(settings.get("port", 22)),
            "username": settings.get("username"),
            "host_key": settings.get("host_key_fingerprint"),
            "credential": connector.secret_kind,
        }
    body.update(
        connector={"name": connector.name, "type": connector.type, "target": target},
        profile=profile.definition(),
        files=_files(settings, profile.layout, len(chain), key),
        commands={
            "test": list(profile.test) if profile.test else None,
            "reload": list(profile.reload) if profile.reload else None,
        },
        timeouts={
            "command": int(settings.get("command_timeout", 60)),
            "push": int(settings.get("push_timeout", 180)),
            "connect": int(settings.get("connect_timeout", 10)),
        },
    )
    return body


@dataclass(frozen=True)
class PlanView:
    id: int
    work_order_id: int
    digest: str
    body: dict[str, Any]
    created_at: datetime
    preflight_status: str
    preflight: dict[str, Any] | None
    preflight_at: datetime | None

    @property
    def blockers(self) -> list[str]:
        checks = (self.preflight or {}).get("checks", [])
        return [c["message"] for c in checks if c.get("status") == "blocker"]

    def to_json(self) -> dict[str, Any]:
        """The documented ``plan`` of ``certpush workorders show WO --json``."""
        return {
            **self.body,
            "digest": self.digest,
            "created_at": self.created_at.isoformat(),
            "preflight": self.preflight
            if self.preflight is not None
            else {"status": self.preflight_status, "checks": [], "endpoints": []},
        }


def _view(row: PushPlan) -> PlanView:
    return PlanView(
        row.id,
        row.work_order_id,
        row.digest,
        json.loads(row.body),
        row.created_at,
        row.preflight_status,
        json.loads(row.preflight) if row.preflight else None,
        row.preflight_at,
    )


def current_plan(session: Session, wo_id: int) -> PlanView | None:
    plan_id = session.scalar(select(WorkOrder.plan_id).where(WorkOrder.id == wo_id))
    if plan_id is None:
        return None
    row = session.get(PushPlan, plan_id)
    return _view(row) if row is not None else None


def get_plan(session: Session, plan_id: int) -> PlanView | None:
    row = session.get(PushPlan, plan_id)
    return _view(row) if row is not None else None


def pin_plan(session: Session, wo_id: int, body: dict[str, Any], now: datetime) -> PlanView:
    """Store ``body`` as the work order's plan (a new row; the old one stays as evidence)."""
    row = PushPlan(
        work_order_id=wo_id,
        digest=digest_of(body),
        body=canonical(body).decode(),
        created_at=now,
        preflight_status=PENDING,
    )
    session.add(row)
    session.flush()
    session.execute(update(WorkOrder).where(WorkOrder.id == wo_id).values(plan_id=row.id))
    return _view(row)


def record_preflight(session: Session, plan_id: int, result: dict[str, Any], now: datetime) -> None:
    """The scheduler's evidence for a plan (it does not change the plan or its digest)."""
    session.execute(
        update(PushPlan)
        .where(PushPlan.id == plan_id)
        .values(
            preflight=json.dumps(result, sort_keys=True),
            preflight_status=result.get("status", "ok"),
            preflight_at=now,
        )
    )


def plans_awaiting_preflight(session: Session, limit: int = 20) -> list[int]:
    """Current plans of open work orders that the scheduler has not checked yet."""
    return list(
        session.scalars(
            select(PushPlan.id)
            .join(WorkOrder, WorkOrder.plan_id == PushPlan.id)
            .where(
                PushPlan.preflight_status == PENDING,
                WorkOrder.status.in_([s.value for s in OPEN]),
            )
            .order_by(PushPlan.id)
            .limit(limit)
        )
    )


def _open_work_orders(
    session: Session, *, connector_id: int | None = None, certificate_id: int | None = None,
    ids: Iterable[int] | None = None,
) -> list[WorkOrder]:  # fmt: skip
    query = select(WorkOrder).where(WorkOrder.status.in_([s.value for s in OPEN]))
    if connector_id is not None:
        query = query.where(WorkOrder.connector_id == connector_id)
    if certificate_id is not None:
        query = query.join(PushRequest, PushRequest.id == WorkOrder.request_id).where(
            PushRequest.certificate_id == certificate_id
        )
    if ids is not None:
        query = query.where(WorkOrder.id.in_(list(ids)))
    return list(session.scalars(query.order_by(WorkOrder.id)))


def _system_event(
    session: Session, wo: WorkOrder, *, to: WorkOrderStatus, comment: str, now: datetime,
    action: str, actor: str, values: dict[str, Any] | None = None,
) -> bool:  # fmt: skip
    before, version = wo.status, wo.version
    changed = session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == wo.id, WorkOrder.version == version)
        .values(status=to.value, version=version + 1, updated_at=now, **(values or {}))
    ).rowcount
    if changed:
        session.add(
            WorkOrderEvent(work_order_id=wo.id, at=now, actor=actor, action=action,
                           from_status=before, to_status=to.value, comment=comment)
        )  # fmt: skip
        audit.record(session, actor=actor, action=f"workorder.{action}", now=now,
                     target=work_order_id(wo.id), detail=comment)  # fmt: skip
        from data import notifications

        notifications.work_order_changed(session, wo.id, action=action, before=before,
                                         after=to.value, actor=actor, comment=comment,
                                         now=now)  # fmt: skip
    return bool(changed)


def refresh_plans(
    session: Session, book: ProfileBook, *, now: datetime, why: str, actor: str = "certpush",
    connector_id: int | None = None, certificate_id: int | None = None,
    ids: Iterable[int] | None = None,
) -> list[str]:  # fmt: skip
    """Re-build the plans of open work orders; where one changed, pin the new plan and
    void the approvals given for the old one (back to Push-Approval Pending, says why).

    A work order whose plan can no longer be built (unbound, profile gone, certificate
    revoked...) is cancelled with the reason. Returns a sentence per work order changed.
    """
    said: list[str] = []
    for wo in _open_work_orders(
        session, connector_id=connector_id, certificate_id=certificate_id, ids=ids
    ):
        label = work_order_id(wo.id)
        old = current_plan(session, wo.id)
        try:
            problem = _unpushable(session, wo)
            if problem:
                raise PlanError(problem)
            body = build_plan(session, wo.id, book)
        except PlanError as exc:
            note = f"cancelled: {why}, and the push can no longer be planned: {exc}"
            cancelled = _system_event(
                session, wo, to=WorkOrderStatus.CANCELLED, comment=note, now=now,
                action="cancel", actor=actor, values={"reason": str(exc)[:2000]},
            )  # fmt: skip
            if cancelled:
                said.append(f"{label} {note}")
            continue
        if old is not None and old.digest == digest_of(body):
            continue
        approved = wo.levels_done > 0 or wo.status != WorkOrderStatus.APPROVAL_PENDING.value
        new = pin_plan(session, wo.id, body, now)
        if old is None:
            continue
        changed = ", ".join(k for k in sorted(set(body) | set(old.body))
                            if body.get(k) != old.body.get(k))  # fmt: skip
        note = f"plan changed ({why}; in: {changed}): new plan {new.digest[:12]}"
        if approved:
            note += "; the approvals given for plan " + old.digest[:12] + " are void"
        session.expire(wo)
        wo = session.get(WorkOrder, wo.id)
        _system_event(session, wo, to=WorkOrderStatus.APPROVAL_PENDING, comment=note, now=now,
                      action="replan", actor=actor,
                      values={"levels_done": 0, "run_at": None, "proposed_at": None})  # fmt: skip
        said.append(f"{label}: {note}")
    session.flush()
    return said


def _unpushable(session: Session, wo: WorkOrder) -> str | None:
    """Why the work order's push can no longer happen at all, or None."""
    request = session.get(PushRequest, wo.request_id)
    cert = session.get(Certificate, request.certificate_id) if request else None
    if cert is None:
        return "the certificate is gone"
    if cert.revoked_at is not None:
        return f"the certificate was revoked ({cert.revocation_reason or 'no reason given'})"
    bound = session.scalar(
        select(Binding.id).where(
            Binding.certificate_id == cert.id, Binding.connector_id == wo.connector_id
        )
    )
    if bound is None:
        return "the connector is no longer bound to the certificate"
    return None


def stale_plan(session: Session, wo_id: int, book: ProfileBook) -> tuple[PlanView | None, str]:
    """At push time: (the plan to execute, "") or (None, why it must not run as pinned)."""
    plan = current_plan(session, wo_id)
    wo = session.get(WorkOrder, wo_id)
    if wo is None:
        return None, "the work order is gone"
    problem = _unpushable(session, wo)
    if problem:
        return None, problem
    try:
        body = build_plan(session, wo_id, book)
    except PlanError as exc:
        return None, str(exc)
    if plan is None:
        return None, "it has no push plan (requested before plans existed)"
    if digest_of(body) != plan.digest:
        return None, "what the plan was built from changed since it was approved"
    return plan, ""


def void_claimed(
    session: Session, wo_id: int, *, owner: str, why: str, book: ProfileBook, now: datetime
) -> str:
    """A claimed work order whose plan is stale does not run: it goes back for approval
    with a new plan (or is cancelled when none can be made). Returns what was said."""
    wo = session.get(WorkOrder, wo_id)
    if wo is None or wo.lease_owner != owner:
        return ""
    try:
        problem = _unpushable(session, wo)
        if problem:
            raise PlanError(problem)
        body = build_plan(session, wo_id, book)
    except PlanError as exc:
        note = f"not pushed: {exc}"
        released = {"reason": note[:2000], "lease_owner": None, "lease_until": None}
        _system_event(session, wo, to=WorkOrderStatus.CANCELLED, comment=note, now=now,
                      action="cancel", actor="scheduler", values=released)  # fmt: skip
        return note
    old = current_plan(session, wo_id)
    new = pin_plan(session, wo_id, body, now)
    note = f"not pushed: {why}; new plan {new.digest[:12]}" + (
        f", the approvals given for plan {old.digest[:12]} are void" if old else ""
    )
    session.expire(wo)
    wo = session.get(WorkOrder, wo_id)
    _system_event(session, wo, to=WorkOrderStatus.APPROVAL_PENDING, comment=note, now=now,
                  action="replan", actor="scheduler",
                  values={"levels_done": 0, "run_at": None, "proposed_at": None,
                          "lease_owner": None, "lease_until": None})  # fmt: skip
    return note
