"""``certpush evidence``: a work order's evidence pack, and checking one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import AsUser, fail, require_schema, shell_actor, utc_now


def evidence_command(
    target: Annotated[str, typer.Argument(help="WO-000123, or 'verify' to check a pack.")],
    pack: Annotated[
        Path | None, typer.Argument(help="With 'verify': the pack (ZIP) to check.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the pack (ZIP).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    offline: Annotated[
        bool, typer.Option(help="With 'verify': do not compare with the database.")
    ] = False,
    as_user: AsUser = None,
) -> None:
    """`evidence WO --out FILE.zip`: the plan and its digest, approvals, push attempts with
    before/after per endpoint, the deciding verification, and the audit events with their
    chain links, as JSON plus a PDF. `evidence verify FILE.zip`: check a pack against itself
    and (unless --offline) against the live audit chain; exit 1 when it does not hold."""
    if target == "verify":
        _verify(pack, as_json, offline)
    else:
        _make(target, out, as_user)


def _make(target: str, out: Path | None, as_user: str | None) -> None:
    from data.db import session_scope
    from data.domain.workflow import parse_work_order_id
    from data.evidence import build_evidence, require_evidence_role, write_pack
    from jobs.cli.common import authenticated
    from reports.evidence_pdf import evidence_pdf

    if out is None:
        raise fail("give --out FILE.zip")
    settings = Settings.from_env()
    require_schema(settings)
    try:
        wo_id = parse_work_order_id(target)
        with session_scope(settings.database_url) as session:
            if as_user is not None:
                user = authenticated(session, as_user)
                require_evidence_role(user.username, user.role.value)
            evidence = build_evidence(session, wo_id, now=utc_now())
            from data import audit

            audit.record(session, actor=as_user or shell_actor(), action="evidence.export",
                         now=utc_now(), target=evidence["work_order"]["id"],
                         detail=str(out))  # fmt: skip
    except (CertpushError, ValueError) as exc:
        raise fail(str(exc)) from None
    data = write_pack(evidence, evidence_pdf(evidence))
    out.write_bytes(data)
    typer.echo(f"wrote {out}: {evidence['work_order']['id']}, "
               f"{len(evidence['audit_events'])} audit event(s), {len(data):,} bytes")  # fmt: skip


def _verify(pack: Path | None, as_json: bool, offline: bool) -> None:
    from data.evidence import EvidenceError, verify_pack

    if pack is None:
        raise fail("give the pack to check: certpush evidence verify FILE.zip")
    try:
        data = pack.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {pack}: {exc.strerror}") from None
    live = None
    if not offline:
        live = _live_events()
    try:
        result = verify_pack(data, event_hash=_event_hash(), live=live)
    except EvidenceError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=1))
    else:
        for problem in result.problems:
            typer.echo(f"NOT OK: {problem}", err=True)
        if result.ok:
            typer.echo(f"ok: the pack of {result.work_order} holds ({', '.join(result.checked)})")
    raise typer.Exit(0 if result.ok else 1)


def _event_hash():
    """The audit chain's hash of one event as the pack holds it (data/domain/audit_chain.py)."""
    from datetime import datetime

    from data.domain.audit_chain import event_hash

    def of(event: dict) -> str:
        return event_hash(
            id=event["id"],
            seq=event.get("seq") or 0,
            at=datetime.fromisoformat(event["at"]),
            actor=event["actor"],
            action=event["action"],
            target=event["target"],
            detail=event["detail"],
            user_id=event.get("user_id"),
            prev_hash=event.get("prev_hash") or "",
        )

    return of


def _live_events():
    from sqlalchemy import select

    from data.db import session_scope
    from data.models import AuditEvent

    settings = Settings.from_env()
    require_schema(settings)

    def live(ids: list[int]) -> dict[int, dict]:
        with session_scope(settings.database_url) as session:
            rows = session.scalars(select(AuditEvent).where(AuditEvent.id.in_(ids))).all()
            return {r.id: {"detail": r.detail, "hash": getattr(r, "hash", None)} for r in rows}

    return live
