"""App connectors as data: create, bind, list, and record what pushes did.

Used by the web app, the CLI and the push job alike. Talking to devices is not
here: that is jobs/connectors/, which only the scheduler and the CLI import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data import audit
from data.crypto import Vault
from data.domain.connector_specs import (
    BUILT_IN_SPECS,
    ConnectorConfigError,
    ConnectorSpec,
    EndpointSpec,
    parse_endpoints,
    valid_name,
    validate_settings,
)
from data.domain.errors import CertpushError, NotFound, PermissionDenied, WindowError
from data.domain.nodes import ConnectorState, ConnectorView, EndpointView, endpoint_state
from data.domain.profiles import ProfileBook
from data.domain.push_validation import PushVerdict
from data.domain.windows import Window, format_windows, parse_windows
from data.domain.workflow import work_order_id
from data.domain.zones import ZoneError, check_zone
from data.models import (
    Binding,
    Certificate,
    Connector,
    Endpoint,
    PushAttempt,
    VerificationResult,
    WorkOrder,
)
from data.profiles import book_for
from data.push_plans import FILE_TYPES, check_paths, refresh_plans
from data.push_verdicts import last_pushes
from data.sealed import open_sealed

SPEC_GROUP = "certpush.connector_specs"
MAX_ENDPOINTS = 10_000


def known_specs() -> dict[str, ConnectorSpec]:
    """Built-in types plus those third-party packages publish through entry points."""
    specs = dict(BUILT_IN_SPECS)
    for ep in entry_points(group=SPEC_GROUP):
        try:
            spec = ep.load()
        except Exception:  # a broken plug-in must not take the app down
            continue
        if isinstance(spec, ConnectorSpec):
            specs.setdefault(spec.type, spec)
    return specs


def spec_for(type_name: str) -> ConnectorSpec:
    specs = known_specs()
    if type_name not in specs:
        raise ConnectorConfigError(
            {"type": f"unknown connector type {type_name!r}: use one of {', '.join(specs)}"}
        )
    return specs[type_name]


@dataclass(frozen=True)
class ConnectorInfo:
    """A connector as lists and forms show it. Holds no secret, only whether one is stored."""

    id: int
    name: str
    type: str
    settings: Mapping[str, Any]
    secret_kind: str | None
    endpoints: tuple[EndpointSpec, ...]
    bound_certificates: int = 0
    windows: str = ""  # maintenance windows, one a line; "" = any time
    auto_rollback: bool = True  # undo a push whose verification fails
    canary: bool = False  # a rollout pushes through it first
    zone: str = "local"  # who reaches the device: the scheduler ("local") or a zone's agents

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "settings": dict(self.settings),
            "secret": f"{self.secret_kind} (stored encrypted)" if self.secret_kind else None,
            "endpoints": [e.to_json() for e in self.endpoints],
            "bound_certificates": self.bound_certificates,
            "windows": self.windows.splitlines(),
            "auto_rollback": self.auto_rollback,
            "zone": self.zone,
            "canary": self.canary,
        }


def secret_context(connector_id: int) -> str:
    return f"connector-secret:{connector_id}"


def _endpoints_of(session: Session, connector_id: int) -> tuple[EndpointSpec, ...]:
    rows = session.execute(
        select(Endpoint.host, Endpoint.port, Endpoint.sni)
        .where(Endpoint.connector_id == connector_id)
        .order_by(Endpoint.id)
    )
    return tuple(EndpointSpec(r.host, r.port, r.sni or None) for r in rows)


def _info(session: Session, row: Connector) -> ConnectorInfo:
    bound = session.scalar(
        select(func.count()).select_from(Binding).where(Binding.connector_id == row.id)
    )
    return ConnectorInfo(
        id=row.id,
        name=row.name,
        type=row.type,
        settings=json.loads(row.settings),
        secret_kind=row.secret_kind if row.sealed_secret else None,
        endpoints=_endpoints_of(session, row.id),
        bound_certificates=bound or 0,
        windows=row.maintenance_windows or "",
        auto_rollback=row.auto_rollback,
        zone=row.zone or "local",
        canary=row.canary,
    )


def _connector(session: Session, name: str) -> Connector:
    row = session.scalar(select(Connector).where(Connector.name == name))
    if row is None:
        raise NotFound(f"no app connector named {name!r}")
    return row


def certificate_by_fingerprint(session: Session, fingerprint: str) -> Certificate:
    """The certificate row for a fingerprint (any case, colons allowed), or NotFound."""
    wanted = fingerprint.replace(":", "").strip().lower()
    row = session.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == wanted))
    if row is None:
        raise NotFound(f"no certificate with SHA-256 fingerprint {fingerprint[:80]!r}")
    return row


def clean_windows(windows: str | Sequence[str]) -> str:
    """Maintenance windows as stored: validated and written canonically, one a line.

    Takes the form's text or the CLI's repeated ``--window`` values (``--window ''``
    alone clears them); a mistake is a ConnectorConfigError on the field ``windows``.
    """
    text = windows if isinstance(windows, str) else "\n".join(windows)
    try:
        return format_windows(parse_windows(text))
    except WindowError as exc:
        raise ConnectorConfigError({"windows": str(exc)}) from None


def connector_windows(session: Session, connector_id: int) -> tuple[Window, ...]:
    """A connector's maintenance windows (none: any time), for the approval rule and the
    scheduler. Stored text was validated when saved; WindowError if it was edited since."""
    text = session.scalar(select(Connector.maintenance_windows).where(Connector.id == connector_id))
    if text is None:
        raise NotFound(f"no app connector with id {connector_id}")
    return parse_windows(text)


def work_order_windows(session: Session, wo_ids: Sequence[int]) -> list[tuple[str, str, str]]:
    """(work order label, connector name, its maintenance windows text) for each work
    order, in id order: what the Implement and Reschedule dialogs show."""
    rows = session.execute(
        select(WorkOrder.id, Connector.name, Connector.maintenance_windows)
        .join(Connector, Connector.id == WorkOrder.connector_id)
        .where(WorkOrder.id.in_(list(wo_ids)))
        .order_by(WorkOrder.id)
    )
    return [(work_order_id(i), name, text or "") for i, name, text in rows]


def _replace_endpoints(session: Session, connector_id: int, endpoints: Sequence[EndpointSpec]):
    if len(endpoints) > MAX_ENDPOINTS:
        raise ConnectorConfigError({"endpoints": f"at most {MAX_ENDPOINTS:,} per connector"})
    session.execute(delete(Endpoint).where(Endpoint.connector_id == connector_id))
    if endpoints:
        session.execute(
            Endpoint.__table__.insert(),
            [
                {"connector_id": connector_id, "host": e.host, "port": e.port, "sni": e.sni or ""}
                for e in endpoints
            ],
        )


def add_connector(
    session: Session,
    vault: Vault,
    *,
    name: str,
    type_name: str,
    settings: Mapping[str, Any],
    endpoints: Iterable[Any] = (),
    secret: bytes | None = None,
    secret_kind: str | None = None,
    actor: str,
    now: datetime,
    role: str | None = None,
    book: ProfileBook | None = None,
    windows: str | Sequence[str] = "",
    auto_rollback: bool = True,
    canary: bool = False,
    zone: str = "local",
) -> ConnectorInfo:
    """Validate and store a connector; the secret is sealed before it touches the database.

    ``role`` is the acting user's: a ``local`` connector acts on the certpush host itself,
    so only an admin may add one, and only where the host allows it. ``windows`` are its
    maintenance windows (data/domain/windows.py; none: any time).
    """
    spec = spec_for(type_name)
    book = book or book_for(session)
    check_local_rights(spec.type, actor, role, book)
    errors: dict[str, str] = {}
    for check in (
        lambda: valid_name(name),
        lambda: validate_settings(spec, settings),
        lambda: parse_endpoints(endpoints),
        lambda: clean_windows(windows),
    ):
        try:
            check()
        except ConnectorConfigError as exc:
            errors.update(exc.errors)
    if secret and secret_kind not in spec.secret_kinds:
        errors["secret"] = f"a {spec.type} connector takes no {secret_kind or 'secret'}"
    if spec.secret_required and not secret:
        errors["secret"] = f"give one of: {', '.join(spec.secret_kinds)}"
    if session.scalar(select(Connector.id).where(Connector.name == name)) is not None:
        errors["name"] = f"an app connector named {name!r} already exists"
    try:
        zone = check_zone(zone)
    except ZoneError as exc:
        errors["zone"] = str(exc)
    errors.update(_profile_errors(spec, settings, book, errors))
    if errors:
        raise ConnectorConfigError(errors)
    clean = validate_settings(spec, settings)
    row = Connector(
        name=name,
        type=spec.type,
        settings=json.dumps(clean, sort_keys=True),
        secret_kind=secret_kind if secret else None,
        created_at=now,
        created_by=actor,
        maintenance_windows=clean_windows(windows),
        auto_rollback=auto_rollback,
        canary=canary,
        zone=zone,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise ConnectorConfigError({"name": f"an app connector named {name!r} exists"}) from None
    if secret:
        row.sealed_secret = vault.seal(secret, secret_context(row.id))
    _replace_endpoints(session, row.id, parse_endpoints(endpoints))
    audit.record(
        session,
        actor=actor,
        action="connector.add",
        now=now,
        target=name,
        detail=f"type {spec.type}; settings {json.dumps(clean, sort_keys=True)}; "
        + _rollout_detail(row),
    )
    session.flush()
    return _info(session, row)


def _rollout_detail(row: Connector) -> str:
    """How pushes through the connector roll out, for its audit records."""
    windows = row.maintenance_windows.replace("\n", "; ") or "any time"
    return (
        f"maintenance windows {windows}; automatic rollback {'on' if row.auto_rollback else 'off'}"
        f"; canary {'yes' if row.canary else 'no'}"
    )


def check_local_rights(type_name: str, actor: str, role: str | None, book: ProfileBook) -> None:
    """A ``local`` connector acts on the certpush host itself: admins only, and only where
    the host allows them. Checked to add, change and test one."""
    if type_name != "local":
        return
    if role != "admin":
        raise PermissionDenied(
            f"{actor} ({role or 'no role'}) may not add, change or test a local connector: it acts "
            "on the certpush host itself, so only an admin may"
        )
    if not book.local_connectors:
        raise ConnectorConfigError(
            {"type": "local connectors are turned off on this host: an administrator "
                     "enables them with CERTPUSH_LOCAL_CONNECTORS=on"}
        )  # fmt: skip


def _profile_errors(
    spec: ConnectorSpec, raw: Mapping[str, Any], book: ProfileBook, found: Mapping[str, str]
) -> dict[str, str]:
    """File paths against the device profile (built-in file types only)."""
    if spec.type not in FILE_TYPES or "profile" in found:
        return {}
    if book.error is not None and not book.get(str(raw.get("profile") or "")):
        return {"profile": f"{book.error} (the last good profiles stay in force)"}
    problems = check_paths({k: v for k, v in raw.items() if v not in (None, "")},
                           str(raw.get("profile") or ""), book)  # fmt: skip
    return {k: v for k, v in problems.items() if k not in found}


def update_connector(
    session: Session,
    vault: Vault,
    name: str,
    *,
    settings: Mapping[str, Any] | None = None,
    endpoints: Iterable[Any] | None = None,
    secret: bytes | None = None,
    secret_kind: str | None = None,
    actor: str,
    role: str | None,
    now: datetime,
    book: ProfileBook | None = None,
    windows: str | Sequence[str] | None = None,
    auto_rollback: bool | None = None,
    canary: bool | None = None,
    zone: str | None = None,
) -> tuple[ConnectorInfo, list[str]]:
    """Change a connector's settings, endpoints, secret, maintenance windows, automatic
    rollback or canary flag (None: unchanged) with the same validation as
    ``add_connector``. When settings, endpoints or the secret change, open work orders
    using it get a new plan (approvals void); the rollout options are not in the plan."""
    row = _connector(session, name)
    spec = spec_for(row.type)
    book = book or book_for(session)
    check_local_rights(spec.type, actor, role, book)
    errors: dict[str, str] = {}
    clean = json.loads(row.settings)
    if settings is not None:
        try:
            clean = validate_settings(spec, settings)
        except ConnectorConfigError as exc:
            errors.update(exc.errors)
        errors.update(_profile_errors(spec, settings, book, errors))
    parsed = None
    if endpoints is not None:
        try:
            parsed = parse_endpoints(endpoints)
        except ConnectorConfigError as exc:
            errors.update(exc.errors)
    if secret and secret_kind not in spec.secret_kinds:
        errors["secret"] = f"a {spec.type} connector takes no {secret_kind or 'secret'}"
    new_zone = None
    if zone is not None:
        try:
            new_zone = check_zone(zone)
        except ZoneError as exc:
            errors["zone"] = str(exc)
    new_windows = None
    if windows is not None:
        try:
            new_windows = clean_windows(windows)
        except ConnectorConfigError as exc:
            errors.update(exc.errors)
    if errors:
        raise ConnectorConfigError(errors)
    changed = []
    if settings is not None and json.dumps(clean, sort_keys=True) != row.settings:
        row.settings = json.dumps(clean, sort_keys=True)
        changed.append("settings")
    if parsed is not None and list(parsed) != list(_endpoints_of(session, row.id)):
        _replace_endpoints(session, row.id, parsed)
        changed.append("endpoints")
    if secret:
        row.sealed_secret = vault.seal(secret, secret_context(row.id))
        row.secret_kind = secret_kind
        changed.append("credential")
    if new_zone is not None and new_zone != row.zone:
        row.zone = new_zone  # another zone's agents would run it: approvals start over
        changed.append("zone")
    in_plan = list(changed)
    changed += _set_rollout_options(row, new_windows, auto_rollback, canary)
    if not changed:
        return _info(session, row), []
    audit.record(session, actor=actor, action="connector.update", now=now, target=name,
                 detail=f"changed {', '.join(changed)}; settings {row.settings}; "
                 + _rollout_detail(row))  # fmt: skip
    session.flush()
    if not in_plan:
        return _info(session, row), []
    why = f"connector {name}: {', '.join(in_plan)} changed by {actor}"
    voided = refresh_plans(session, book, now=now, actor=actor, connector_id=row.id, why=why)
    return _info(session, row), voided


def _set_rollout_options(
    row: Connector, windows: str | None, auto_rollback: bool | None, canary: bool | None
) -> list[str]:
    """Apply the options given (None: unchanged); the names of those that changed."""
    changed = []
    if windows is not None and windows != row.maintenance_windows:
        row.maintenance_windows = windows
        changed.append("maintenance windows")
    if auto_rollback is not None and auto_rollback != row.auto_rollback:
        row.auto_rollback = auto_rollback
        changed.append("automatic rollback")
    if canary is not None and canary != row.canary:
        row.canary = canary
        changed.append("canary")
    return changed


def set_endpoints(
    session: Session, name: str, endpoints: Iterable[Any], *, actor: str, now: datetime
) -> ConnectorInfo:
    """Replace a connector's endpoints (what the verification sweep will probe); open work
    orders using the connector get a new plan, and their approvals are void."""
    row = _connector(session, name)
    parsed = parse_endpoints(endpoints)
    before = list(_endpoints_of(session, row.id))
    _replace_endpoints(session, row.id, parsed)
    audit.record(
        session,
        actor=actor,
        action="connector.endpoints",
        now=now,
        target=name,
        detail=", ".join(str(e) for e in parsed[:50]) + (" …" if len(parsed) > 50 else ""),
    )
    if before != list(parsed):
        session.flush()
        refresh_plans(session, book_for(session), now=now, actor=actor, connector_id=row.id,
                      why=f"connector {name}: endpoints changed by {actor}")  # fmt: skip
    return _info(session, row)


def bind(session: Session, name: str, fingerprint: str, *, actor: str, now: datetime) -> bool:
    """Bind a connector to a certificate; False when it was already bound."""
    connector = _connector(session, name)
    cert = certificate_by_fingerprint(session, fingerprint)
    exists = session.scalar(
        select(Binding.id).where(
            Binding.connector_id == connector.id, Binding.certificate_id == cert.id
        )
    )
    if exists is not None:
        return False
    session.add(
        Binding(certificate_id=cert.id, connector_id=connector.id, created_at=now, created_by=actor)
    )
    audit.record(
        session,
        actor=actor,
        action="connector.bind",
        now=now,
        target=name,
        detail=f"certificate {cert.fingerprint_sha256}",
    )
    session.flush()
    return True


def unbind(session: Session, name: str, fingerprint: str, *, actor: str, now: datetime) -> bool:
    """Remove a binding; False when there was none."""
    connector = _connector(session, name)
    cert = certificate_by_fingerprint(session, fingerprint)
    result = session.execute(
        delete(Binding).where(
            Binding.connector_id == connector.id, Binding.certificate_id == cert.id
        )
    )
    if not result.rowcount:
        return False
    audit.record(
        session,
        actor=actor,
        action="connector.unbind",
        now=now,
        target=name,
        detail=f"certificate {cert.fingerprint_sha256}",
    )
    session.flush()
    refresh_plans(session, book_for(session), now=now, actor=actor, connector_id=connector.id,
                  certificate_id=cert.id, why=f"connector {name} unbound by {actor}")  # fmt: skip
    return True


def list_connectors(session: Session) -> list[ConnectorInfo]:
    rows = session.scalars(select(Connector).order_by(Connector.name))
    return [_info(session, row) for row in rows]


@dataclass(frozen=True)
class BoundCertificate:
    """A certificate bound to a connector, by its identity and name."""

    fingerprint: str
    common_name: str | None

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "common_name": self.common_name}


@dataclass(frozen=True)
class ConnectorOverview:
    """A connector with what is bound to it and what its last push came to."""

    info: ConnectorInfo
    certificates: tuple[BoundCertificate, ...]
    last_push: PushVerdict | None

    def to_json(self) -> dict[str, Any]:
        """The documented shape of ``certpush connectors list --json``: ConnectorInfo's keys
        plus ``certificates`` (fingerprint, common_name) and ``last_push`` (null when the
        connector never had a push; else PushVerdict.to_json())."""
        return {
            **self.info.to_json(),
            "certificates": [c.to_json() for c in self.certificates],
            "last_push": self.last_push.to_json() if self.last_push else None,
        }


def connector_overviews(session: Session) -> list[ConnectorOverview]:
    """Every connector (by name) with its bound certificates and the verdict of its last push.

    The last push is the connector's, of whichever certificate went last; its verdict
    follows the one rule (data/domain/push_validation.py). Secrets are never read.
    """
    infos = list_connectors(session)
    bound: dict[int, list[BoundCertificate]] = {info.id: [] for info in infos}
    for connector_id, fingerprint, common_name in session.execute(
        select(Binding.connector_id, Certificate.fingerprint_sha256, Certificate.common_name)
        .join(Certificate, Certificate.id == Binding.certificate_id)
        .order_by(Binding.connector_id, Certificate.common_name, Certificate.fingerprint_sha256)
    ):
        bound.setdefault(connector_id, []).append(BoundCertificate(fingerprint, common_name))
    pushes = last_pushes(session)
    return [ConnectorOverview(info, tuple(bound[info.id]), pushes.get(info.id)) for info in infos]


def get_connector(session: Session, name: str) -> ConnectorInfo:
    return _info(session, _connector(session, name))


def open_secret(
    session: Session, vault: Vault, name: str, *, actor: str = "certpush"
) -> bytes | None:
    """The connector's secret in the clear, for the push process only; never log it.
    One that will not open is audited (data/sealed.py) and raises SealedValueError."""
    row = _connector(session, name)
    if row.sealed_secret is None:
        return None
    return open_sealed(session, vault, row.sealed_secret, secret_context(row.id),
                       target=f"connector {name}", actor=actor)  # fmt: skip


def is_bound(session: Session, certificate_id: int, connector_id: int) -> bool:
    """One indexed lookup, for callers that only need to know (the push job)."""
    return (
        session.scalar(
            select(Binding.id).where(
                Binding.certificate_id == certificate_id, Binding.connector_id == connector_id
            )
        )
        is not None
    )


def bound_connector_ids(session: Session, certificate_id: int) -> dict[str, int]:
    """Name -> id of the connectors bound to a certificate, without their push or
    endpoint state (one indexed query: what requesting a push needs)."""
    return {
        name: connector_id
        for name, connector_id in session.execute(
            select(Connector.name, Connector.id)
            .join(Binding, Binding.connector_id == Connector.id)
            .where(Binding.certificate_id == certificate_id)
            .order_by(Connector.name)
        )
    }


def bound_connectors(session: Session, certificate_id: int) -> list[ConnectorView]:
    """The connectors bound to a certificate, each with its endpoints and latest push state."""
    connectors = session.scalars(
        select(Connector)
        .join(Binding, Binding.connector_id == Connector.id)
        .where(Binding.certificate_id == certificate_id)
        .order_by(Connector.name)
    ).all()
    if not connectors:
        return []
    ids = [c.id for c in connectors]
    latest: dict[int, PushAttempt] = {}
    for attempt in session.scalars(
        select(PushAttempt)
        .where(
            PushAttempt.certificate_id == certificate_id,
            PushAttempt.connector_id.in_(ids),
            PushAttempt.outcome != STARTED,
            PushAttempt.kind.in_(("install", "rollback")),
        )
        .order_by(PushAttempt.id)
    ):
        latest[attempt.connector_id] = attempt
    endpoints: dict[int, list[EndpointView]] = {i: [] for i in ids}
    latest_result = (
        select(VerificationResult.endpoint_id, func.max(VerificationResult.id).label("rid"))
        .where(VerificationResult.connector_id.in_(ids))
        .group_by(VerificationResult.endpoint_id)
        .subquery()
    )
    for e in session.execute(
        select(
            Endpoint.id,
            Endpoint.connector_id,
            Endpoint.host,
            Endpoint.port,
            Endpoint.sni,
            VerificationResult.outcome,
            VerificationResult.reason,
            VerificationResult.at,
            VerificationResult.served_subject,
            VerificationResult.served_not_after,
            VerificationResult.served_fingerprint,
            VerificationResult.expected_fingerprint,
        )
        .outerjoin(latest_result, latest_result.c.endpoint_id == Endpoint.id)
        .outerjoin(VerificationResult, VerificationResult.id == latest_result.c.rid)
        .where(Endpoint.connector_id.in_(ids))
        .order_by(Endpoint.id)
    ):
        endpoints[e.connector_id].append(
            EndpointView(
                e.id,
                e.host,
                e.port,
                e.sni or None,
                endpoint_state(e.outcome),
                _verified(e),
                checked_at=e.at,
                reason=e.reason or "",
                expected_fingerprint=e.expected_fingerprint,
                served_fingerprint=e.served_fingerprint,
                served_subject=e.served_subject,
                served_not_after=e.served_not_after,
            )
        )
    pushes = last_pushes(session, certificate_id=certificate_id, connector_ids=ids)
    views = []
    for c in connectors:
        attempt = latest.get(c.id)
        if attempt is None:
            state, detail = ConnectorState.NOT_PUSHED, ""
        elif attempt.outcome == "failed" and attempt.kind == "install":
            state, detail = ConnectorState.FAILED, attempt.reason
        elif attempt.kind == "rollback":
            state = ConnectorState.FAILED
            detail = (
                f"rolled back {attempt.finished_at or attempt.started_at:%Y-%m-%d %H:%M} UTC: "
                + attempt.reason
            )
        else:
            state = ConnectorState.INSTALLED
            detail = f"installed {attempt.finished_at or attempt.started_at:%Y-%m-%d %H:%M} UTC"
        views.append(
            ConnectorView(
                c.id,
                c.name,
                c.type,
                state,
                tuple(endpoints[c.id]),
                detail,
                last_push=pushes.get(c.id),
                windows=c.maintenance_windows or "",
                zone=c.zone or "local",
            )
        )
    return views


def _verified(row: Any) -> str:
    """What the latest sweep saw at an endpoint, for the topology's hover text."""
    if row.outcome is None:
        return ""
    parts = [f"checked {row.at:%Y-%m-%d %H:%M} UTC: {row.reason}"]
    if row.served_fingerprint:
        expiry = f", expires {row.served_not_after:%Y-%m-%d}" if row.served_not_after else ""
        parts.append(f"served {row.served_fingerprint[:16]}… {row.served_subject or ''}{expiry}")
        if row.served_fingerprint != row.expected_fingerprint:
            parts.append(f"expected {row.expected_fingerprint[:16]}…")
    return "\n".join(parts)


STARTED = "started"  # an attempt recorded before the device is touched, not finished yet


def begin_push_attempt(
    session: Session,
    *,
    certificate_id: int,
    connector_id: int,
    connector_name: str,
    fingerprint: str,
    actor: str,
    started_at: datetime,
    work_order_id: int | None = None,
    plan_digest: str | None = None,
    kind: str = "install",
    try_number: int = 1,
) -> int:
    """The attempt row and its audit event, written (and committed by the caller) before
    the device is touched: if this write fails, the push (or rollback) does not start."""
    attempt = PushAttempt(
        kind=kind,
        try_number=try_number,
        work_order_id=work_order_id,
        certificate_id=certificate_id,
        connector_id=connector_id,
        actor=actor,
        started_at=started_at,
        finished_at=None,
        outcome=STARTED,
        reason_class=None,
        reason="the push started" if kind == "install" else f"the {kind} started",
    )
    session.add(attempt)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="push.start" if kind == "install" else f"push.{kind}.start",
        now=started_at,
        target=connector_name,
        detail=f"certificate {fingerprint}"
        + (f"; plan {plan_digest}" if plan_digest else "")
        + (f"; try {try_number}" if try_number > 1 else "")
        + f"; attempt {attempt.id}",
    )
    return attempt.id


def finish_push_attempt(
    session: Session,
    attempt_id: int,
    *,
    finished_at: datetime,
    outcome: str,
    reason_class: str | None,
    reason: str,
) -> PushAttempt:
    """Complete an attempt begun by ``begin_push_attempt``."""
    attempt = session.get(PushAttempt, attempt_id)
    if attempt is None:
        raise CertpushError(f"push attempt {attempt_id} vanished during the push")
    attempt.finished_at = finished_at
    attempt.outcome = outcome
    attempt.reason_class = reason_class
    attempt.reason = reason
    attempt.duration_ms = int((finished_at - attempt.started_at).total_seconds() * 1000)
    session.flush()
    _update_push_failed(session, attempt.certificate_id)
    return attempt


# Outcomes that make the certificate Gray when they are a connector's latest word.
FAILED_OUTCOMES = ("failed", "failed_verification")


def _update_push_failed(session: Session, certificate_id: int) -> None:
    """The Gray input: a connector whose latest install failed, or whose latest
    verification after an install failed (a rollback does not make that push good)."""
    latest: dict[int, str] = {}
    for connector, result in session.execute(
        select(PushAttempt.connector_id, PushAttempt.outcome)
        .where(
            PushAttempt.certificate_id == certificate_id,
            PushAttempt.outcome != STARTED,
            PushAttempt.kind.in_(("install", "verify")),
        )
        .order_by(PushAttempt.id)
    ):
        latest[connector] = result
    cert = session.get(Certificate, certificate_id)
    if cert is None:
        raise CertpushError("the certificate was deleted during the push")
    cert.push_failed = any(outcome in FAILED_OUTCOMES for outcome in latest.values())


def record_push_attempt(
    session: Session,
    *,
    certificate_id: int,
    connector_id: int,
    actor: str,
    started_at: datetime,
    finished_at: datetime,
    outcome: str,
    reason_class: str | None,
    reason: str,
    work_order_id: int | None = None,
    kind: str = "install",
) -> PushAttempt:
    """Store one push attempt and keep the certificate's "latest push failed" input current."""
    attempt = PushAttempt(
        kind=kind,
        work_order_id=work_order_id,
        certificate_id=certificate_id,
        connector_id=connector_id,
        actor=actor,
        started_at=started_at,
        finished_at=finished_at,
        outcome=outcome,
        reason_class=reason_class,
        reason=reason,
        duration_ms=int((finished_at - started_at).total_seconds() * 1000),
    )
    session.add(attempt)
    session.flush()
    _update_push_failed(session, certificate_id)
    return attempt
