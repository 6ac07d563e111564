"""Read-side queries: server-side paging, sorting and filtering of the inventory.

Everything a grid or a list asks for becomes SQL (ORDER BY, LIMIT/OFFSET,
indexable ranges on ``not_after``), so a page of 100 rows out of a million
costs milliseconds; colours are computed in Python for the rows returned only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    false,
    func,
    not_,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from data.domain.errors import NotFound
from data.domain.status import (
    DAY,
    STATUS_TABLE,
    Status,
    StatusInputs,
    classify_certificate,
    days_left,
    expiry_window,
    parse_status,
)
from data.models import Certificate, PrivateKey

MAX_PAGE = 1000
FTS_MIN_CHARS = 3  # the trigram index needs at least three characters


@dataclass(frozen=True)
class CertificateRow:
    """One inventory line, ready for a grid, the CLI or the API (never holds key material)."""

    id: int
    fingerprint_sha256: str
    common_name: str | None
    sans: tuple[str, ...]
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    days_left: int
    status: Status

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of a certificate (CLI --json, API)."""
        return {
            "fingerprint_sha256": self.fingerprint_sha256,
            "common_name": self.common_name,
            "not_after": self.not_after.isoformat(),
            "status": self.status.value,
        }

    def to_grid(self) -> dict[str, Any]:
        style = STATUS_TABLE[self.status]
        return {
            "id": self.id,
            "fingerprint_sha256": self.fingerprint_sha256,
            "common_name": self.common_name or "(no common name)",
            "sans": ", ".join(self.sans),
            "issuer": self.issuer,
            "serial": self.serial,
            "not_after": self.not_after.strftime("%Y-%m-%d %H:%M UTC"),
            "days_left": self.days_left,
            "status": style.label,
            "status_hex": style.hex,
            "status_text_hex": style.text_hex,
        }


@dataclass(frozen=True)
class CertificateDetail:
    """Everything the topology page shows about one certificate."""

    row: CertificateRow
    subject: str
    key_type: str
    key_size: int | None
    signature_algorithm: str
    extended_key_usage: tuple[str, ...]
    is_ca: bool
    has_private_key: bool
    revoked_at: datetime | None
    revocation_reason: str | None
    parse_warnings: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Page:
    rows: list[CertificateRow]
    total: int


SORTABLE = {
    "common_name": Certificate.common_name,
    "issuer": Certificate.issuer,
    "serial": Certificate.serial,
    "not_after": Certificate.not_after,
    "days_left": Certificate.not_after,
}
TEXT_FILTERABLE = {
    "common_name": Certificate.common_name,
    "sans": Certificate.sans,
    "issuer": Certificate.issuer,
    "serial": Certificate.serial,
    "fingerprint_sha256": Certificate.fingerprint_sha256,
}


# The columns the colour rule reads; select them with any query that must show a status.
STATUS_COLUMNS = (
    Certificate.not_after,
    Certificate.revoked_at,
    Certificate.push_failed,
    Certificate.drift,
)


def status_of(r: Any, now: datetime) -> Status:
    """The colour of a row that carries STATUS_COLUMNS (an ORM object or a Row)."""
    return classify_certificate(
        StatusInputs(
            not_after=r.not_after,
            revoked=r.revoked_at is not None,
            push_failed=r.push_failed,
            drift=r.drift,
        ),
        now,
    )


def _row(r: Any, now: datetime) -> CertificateRow:
    status = status_of(r, now)
    return CertificateRow(
        id=r.id,
        fingerprint_sha256=r.fingerprint_sha256,
        common_name=r.common_name,
        sans=tuple(s for s in (r.sans or "").split("\n") if s),
        issuer=r.issuer,
        serial=r.serial,
        not_before=r.not_before,
        not_after=r.not_after,
        days_left=days_left(r.not_after, now),
        status=status,
    )


_LIST_COLUMNS = (
    Certificate.id,
    Certificate.fingerprint_sha256,
    Certificate.common_name,
    Certificate.sans,
    Certificate.issuer,
    Certificate.serial,
    Certificate.not_before,
    *STATUS_COLUMNS,
)


def status_condition(status: Status, now: datetime) -> ColumnElement[bool]:
    """SQL for "this certificate has colour ``status``", the precedence of DESIGN.md spelled out.

    Expiry colours become ranges on the indexed ``not_after`` column.
    """
    revoked = Certificate.revoked_at.is_not(None)
    expired = Certificate.not_after < now
    live = and_(not_(revoked), not_(expired))
    if status is Status.BLACK:
        return revoked
    if status is Status.RED:
        return and_(not_(revoked), expired)
    if status is Status.GRAY:
        return and_(live, Certificate.push_failed.is_(true()))
    if status is Status.MID_PURPLE:
        return and_(live, Certificate.push_failed.is_(false()), Certificate.drift.is_(true()))
    low, high = expiry_window(status, now)
    clauses = [
        Certificate.revoked_at.is_(None),
        Certificate.push_failed.is_(false()),
        Certificate.drift.is_(false()),
    ]
    if low is not None:
        clauses.append(Certificate.not_after >= low)
    if high is not None:
        clauses.append(Certificate.not_after < high)
    return and_(*clauses)


def _contains(session: Session, column, value: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "sqlite":
        return column.contains(value, autoescape=True)  # SQLite LIKE ignores ASCII case
    return func.lower(column).contains(value.lower(), autoescape=True)


def _fts_match(session: Session, column_name: str, value: str) -> ColumnElement[bool] | None:
    """Use SQLite's trigram index for substring search when it can answer the question."""
    if (
        session.get_bind().dialect.name != "sqlite"
        or column_name not in ("common_name", "sans")
        or len(value) < FTS_MIN_CHARS
    ):
        return None
    phrase = '"' + value.replace('"', '""') + '"'
    return Certificate.id.in_(
        select(text("rowid"))
        .select_from(text("certificates_fts"))
        .where(
            # unique: two FTS filters in one query (CN and SANs, or an AND/OR pair)
            # must not share one bound value
            text("certificates_fts MATCH :fts_query").bindparams(
                bindparam("fts_query", f"{column_name} : {phrase}", unique=True)
            )
        )
    )


def _text_condition(session: Session, name: str, spec: Mapping[str, Any]) -> ColumnElement[bool]:
    column = TEXT_FILTERABLE[name]
    kind = spec.get("type", "contains")
    value = str(spec.get("filter", "") or "")
    if kind in ("blank", "notBlank"):
        blank = or_(column.is_(None), column == "")
        return blank if kind == "blank" else not_(blank)
    if kind == "contains":
        indexed = _fts_match(session, name, value)
        return indexed if indexed is not None else _contains(session, column, value)
    if kind == "notContains":
        return not_(_contains(session, column, value))
    if kind == "equals":
        return column == value
    if kind == "notEqual":
        return column != value
    if kind == "startsWith":
        return column.startswith(value, autoescape=True)
    if kind == "endsWith":
        return column.endswith(value, autoescape=True)
    raise ValueError(f"unsupported text filter {kind!r} on {name}")


def _days_condition(spec: Mapping[str, Any], now: datetime) -> ColumnElement[bool]:
    """days_left is floor((not_after - now) / 1 day): translate bounds into not_after ranges."""
    kind = spec.get("type", "equals")
    n = int(spec.get("filter") or 0)

    def at_least(d: int) -> ColumnElement[bool]:
        return Certificate.not_after >= now + timedelta(days=d)

    def at_most(d: int) -> ColumnElement[bool]:
        return Certificate.not_after < now + (d + 1) * DAY

    if kind == "equals":
        return and_(at_least(n), at_most(n))
    if kind == "notEqual":
        return not_(and_(at_least(n), at_most(n)))
    if kind == "lessThan":
        return at_most(n - 1)
    if kind == "lessThanOrEqual":
        return at_most(n)
    if kind == "greaterThan":
        return at_least(n + 1)
    if kind == "greaterThanOrEqual":
        return at_least(n)
    if kind == "inRange":
        return and_(at_least(n), at_most(int(spec.get("filterTo") or n)))
    raise ValueError(f"unsupported number filter {kind!r} on days left")


def _condition(
    session: Session, name: str, spec: Mapping[str, Any], now: datetime
) -> ColumnElement[bool]:
    if "operator" in spec and "conditions" in spec:  # AG Grid's two-condition filters
        parts = [_condition(session, name, c, now) for c in spec["conditions"]]
        return and_(*parts) if spec["operator"] == "AND" else or_(*parts)
    if name == "status":
        return status_condition(parse_status(str(spec.get("filter", ""))), now)
    if name == "days_left":
        return _days_condition(spec, now)
    if name in TEXT_FILTERABLE:
        return _text_condition(session, name, spec)
    raise ValueError(f"cannot filter on {name!r}")


def filtered_query(
    session: Session, filter_model: Mapping[str, Any] | None, now: datetime
) -> Select[Any]:
    """The inventory SELECT with every grid filter applied (AND across columns)."""
    query = select(*_LIST_COLUMNS)
    for name, spec in (filter_model or {}).items():
        query = query.where(_condition(session, name, spec, now))
    return query


def certificate_page(
    session: Session,
    *,
    start: int,
    end: int,
    now: datetime,
    sort_model: Sequence[Mapping[str, str]] | None = None,
    filter_model: Mapping[str, Any] | None = None,
) -> Page:
    """One block of rows [start, end) plus the total matching count, all decided in SQL."""
    start = max(0, int(start))
    end = max(start, min(int(end), start + MAX_PAGE))
    query = filtered_query(session, filter_model, now)
    order = []
    for sort in sort_model or ():
        column = SORTABLE.get(sort.get("colId", ""))
        if column is None:
            raise ValueError(f"cannot sort on {sort.get('colId')!r}")
        order.append(column.desc() if sort.get("sort") == "desc" else column.asc())
    order.append(Certificate.id.asc())
    # Deferred join: walk the (narrow) index for the page's ids, then fetch only those rows,
    # so a deep OFFSET never drags whole rows (with their DER) through the skip.
    page_ids = (
        query.with_only_columns(Certificate.id)
        .order_by(*order)
        .offset(start)
        .limit(end - start)
        .subquery()
    )
    rows = session.execute(
        select(*_LIST_COLUMNS).join(page_ids, Certificate.id == page_ids.c.id).order_by(*order)
    ).all()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return Page([_row(r, now) for r in rows], total)


def iter_certificates(
    session: Session, now: datetime, status: Status | None = None
) -> Iterator[CertificateRow]:
    """Every certificate (optionally of one colour), soonest expiry first, streamed."""
    query = select(*_LIST_COLUMNS)
    if status is not None:
        query = query.where(status_condition(status, now))
    result = session.execute(
        query.order_by(Certificate.not_after, Certificate.id).execution_options(yield_per=1000)
    )
    for r in result:
        yield _row(r, now)


def certificate_detail(session: Session, fingerprint: str, now: datetime) -> CertificateDetail:
    """One certificate by fingerprint (any case, colons allowed), or NotFound."""
    wanted = fingerprint.replace(":", "").strip().lower()
    cert = session.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == wanted))
    if cert is None:
        raise NotFound(f"no certificate with SHA-256 fingerprint {fingerprint[:80]!r}")
    has_key = cert.spki_sha256 is not None and (
        session.scalar(select(PrivateKey.id).where(PrivateKey.spki_sha256 == cert.spki_sha256))
        is not None
    )
    return CertificateDetail(
        row=_row(cert, now),
        subject=cert.subject,
        key_type=cert.key_type,
        key_size=cert.key_size,
        signature_algorithm=cert.signature_algorithm,
        extended_key_usage=tuple(e for e in cert.extended_key_usage.split(",") if e),
        is_ca=cert.is_ca,
        has_private_key=has_key,
        revoked_at=cert.revoked_at,
        revocation_reason=cert.revocation_reason,
        parse_warnings=tuple(w for w in cert.parse_warnings.split("\n") if w),
        source=cert.source,
    )


def status_counts(session: Session, now: datetime) -> dict[Status, int]:
    """How many certificates have each colour (one indexed COUNT per colour)."""
    return {
        status: session.scalar(
            select(func.count()).select_from(Certificate).where(status_condition(status, now))
        )
        or 0
        for status in Status
    }
