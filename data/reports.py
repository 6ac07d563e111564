"""The Push Validation Report's numbers, counted by the database.

Every figure here comes from a GROUP BY over work orders and verification results
for one period (``data/domain/periods.py``); pandas only shapes the small results.
The push states come from one rule (``data/domain/push_validation.py``), compiled
into one SQL CASE in ``data/push_verdicts.py``, so the page, the exports, the CLI and
the topology cannot disagree.
A push belongs to the period (and to a day or week) by when it ended: ``pushed_at``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    Integer,
    and_,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from data.domain.periods import Granularity, Period
from data.domain.push_validation import (
    STYLES,
    PushValidation,
    success_rate,
)
from data.domain.status import Status
from data.domain.workflow import request_id, work_order_id
from data.models import (
    Certificate,
    Connector,
    PushAttempt,
    PushRequest,
    UTCDateTime,
    VerificationResult,
    WorkOrder,
)
from data.push_verdicts import STATE, deciding_counts, deciding_results, with_push_facts
from data.queries import status_counts

STATES = list(PushValidation)
EXPIRY_HORIZONS = (7, 30, 90)

FAILURE_LABELS = {
    "verification:mismatch": "Verification: another certificate served",
    "verification:timeout": "Verification: no answer in time",
    "verification:refused": "Verification: connection refused",
    "verification:reset": "Verification: connection reset",
    "verification:tls_error": "Verification: TLS handshake failed",
    "verification:not_tls": "Verification: the port does not speak TLS",
    "verification:dns_error": "Verification: name does not resolve",
    "verification:unreachable": "Verification: endpoint unreachable",
    "push:auth": "Push: authentication refused",
    "push:host_key": "Push: SSH host key unknown or changed",
    "push:unreachable": "Push: device unreachable",
    "push:timeout": "Push: device timed out",
    "push:permission": "Push: permission denied on the device",
    "push:config_test_failed": "Push: configuration test failed (rolled back)",
    "push:reload_failed": "Push: reload failed (rolled back)",
    "push:io_error": "Push: file I/O error",
    "push:config": "Push: connector misconfigured",
    "push:interrupted": "Push: interrupted (scheduler stopped)",
    "push:unknown": "Push: unknown error",
}

# An emergency change (`certpush push emergency`) says so wherever a push is listed.
EMERGENCY = " (emergency change)"


def failure_label(key: str) -> str:
    return FAILURE_LABELS.get(key, key.replace(":", ": ").replace("_", " ").capitalize())


def _in(period: Period):
    return and_(WorkOrder.pushed_at >= period.start, WorkOrder.pushed_at < period.end)


def _counts_frame(rows, index: str, keys=None) -> pd.DataFrame:
    """(key, state, n) rows → one row per key with a column per state, zeros filled
    (also for every one of ``keys`` that has no row); success rate as in the domain."""
    frame = pd.DataFrame(list(rows), columns=[index, "state", "n"])
    table = frame.pivot_table(index=index, columns="state", values="n", aggfunc="sum", fill_value=0)
    if keys is not None:
        table = table.reindex(keys, fill_value=0)
    table = table.reindex(columns=[s.value for s in STATES], fill_value=0).astype(int)
    table.columns.name = None
    table["pushes"] = table.sum(axis=1)
    decided = table["pushes"] - table[PushValidation.PENDING.value]
    verified = table[PushValidation.VERIFIED.value]
    table["success_rate"] = (verified / decided.where(decided > 0)).astype(float)
    return table


# ----------------------------------------------------------------------------- KPIs


@dataclass(frozen=True)
class Kpis:
    pushes: int
    verified: int
    failed_verification: int
    push_failed: int
    pending: int
    success_rate: float | None
    median_to_verified_s: float | None  # request made → push verified

    def to_json(self) -> dict:
        return asdict(self)


def state_counts(session: Session, period: Period) -> dict[PushValidation, int]:
    rows = session.execute(select(STATE, func.count()).where(_in(period)).group_by(STATE)).all()
    counts = dict.fromkeys(STATES, 0)
    for state, n in rows:
        counts[PushValidation(state)] = n
    return counts


def _seconds_between(later, earlier, dialect: str):
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def median_to_verified(
    session: Session, period: Period, verified: int | None = None
) -> float | None:
    """Median seconds from the request to the verdict, over the period's verified pushes.

    Computed by the database (one ORDER BY with OFFSET): no list of durations in memory.
    ``verified`` is their number when the caller already counted them.
    """
    if verified is None:
        verified = state_counts(session, period)[PushValidation.VERIFIED]
    if not verified:
        return None
    seconds = _seconds_between(
        WorkOrder.verified_at, PushRequest.created_at, session.get_bind().dialect.name
    ).label("s")
    middle = session.scalars(
        select(seconds)
        .join(PushRequest, PushRequest.id == WorkOrder.request_id)
        .where(_in(period), STATE.in_([PushValidation.VERIFIED.value]))
        .order_by(seconds)
        .offset((verified - 1) // 2)
        .limit(2 - verified % 2)
    ).all()
    return round(sum(float(x) for x in middle) / len(middle), 1)  # julianday is not exact


def kpis(session: Session, period: Period) -> Kpis:
    c = state_counts(session, period)
    v, fv, pf = (
        c[PushValidation.VERIFIED],
        c[PushValidation.FAILED_VERIFICATION],
        c[PushValidation.PUSH_FAILED],
    )
    return Kpis(
        pushes=sum(c.values()),
        verified=v,
        failed_verification=fv,
        push_failed=pf,
        pending=c[PushValidation.PENDING],
        success_rate=success_rate(v, fv, pf),
        median_to_verified_s=median_to_verified(session, period, v),
    )


# ----------------------------------------------------------------------------- trend


# SQLite joins at most 500 SELECTs in one UNION ALL (SQLITE_MAX_COMPOUND_SELECT): a ten
# year period has 523 weeks, so the bucket table is sent in slices of this many.
BUCKETS_PER_QUERY = 400


def _bucket_table(buckets: list[tuple[int, Any]]):
    """Buckets as a small SQL table (index, start, end) to join on."""
    selects = [
        select(
            literal(i, Integer).label("i"),
            literal(b.start, UTCDateTime).label("lo"),
            literal(b.end, UTCDateTime).label("hi"),
        )
        for i, b in buckets
    ]
    return union_all(*selects).subquery("buckets")


def trend(session: Session, period: Period, granularity: Granularity | None = None) -> pd.DataFrame:
    """One row per day or week (empty ones as zeros): pushes per state and success rate."""
    granularity = granularity or period.default_granularity()
    buckets = period.buckets(granularity)
    numbered = list(enumerate(buckets))
    rows = []
    for first in range(0, len(numbered), BUCKETS_PER_QUERY):
        table = _bucket_table(numbered[first : first + BUCKETS_PER_QUERY])
        rows += session.execute(
            select(table.c.i, STATE, func.count())
            .select_from(table)
            .join(
                WorkOrder, and_(WorkOrder.pushed_at >= table.c.lo, WorkOrder.pushed_at < table.c.hi)
            )
            .group_by(table.c.i, STATE)
        ).all()
    frame = _counts_frame(rows, "i", range(len(buckets)))
    frame.insert(0, "bucket", [b.first for b in buckets])
    frame.insert(1, "bucket_last", [b.last for b in buckets])
    return frame.reset_index(drop=True)


# ----------------------------------------------------------------------------- breakdowns


def by_connector_type(session: Session, period: Period) -> pd.DataFrame:
    rows = session.execute(
        select(Connector.type, STATE, func.count())
        .join(Connector, Connector.id == WorkOrder.connector_id)
        .where(_in(period))
        .group_by(Connector.type, STATE)
    ).all()
    return _counts_frame(rows, "connector_type").reset_index()


def by_device(session: Session, period: Period, limit: int = 20) -> pd.DataFrame:
    """Per device (connector), the ``limit`` with the most failures first."""
    rows = session.execute(
        select(Connector.name, STATE, func.count())
        .join(Connector, Connector.id == WorkOrder.connector_id)
        .where(_in(period))
        .group_by(Connector.name, STATE)
    ).all()
    frame = _counts_frame(rows, "device").reset_index()
    frame["failed"] = (
        frame[PushValidation.FAILED_VERIFICATION.value] + frame[PushValidation.PUSH_FAILED.value]
    )
    frame = frame.sort_values(["failed", "pushes", "device"], ascending=[False, False, True])
    return frame.head(limit).reset_index(drop=True)


def failure_reasons(session: Session, period: Period) -> pd.DataFrame:
    """Why pushes failed: verification outcomes of the deciding sweep, and push errors.

    ``work_orders`` counts each push once per reason (a push whose endpoints failed in
    two ways appears under both); ``endpoints`` counts the failing endpoints.
    """
    verification = session.execute(
        select(
            VerificationResult.outcome,
            func.count(func.distinct(WorkOrder.id)),
            func.count(),
        )
        .join(VerificationResult, deciding_results())
        .where(
            _in(period),
            WorkOrder.verification == "failed",
            VerificationResult.outcome != "match",
        )
        .group_by(VerificationResult.outcome)
    ).all()
    reason_class = func.coalesce(PushAttempt.reason_class, "interrupted")
    push = session.execute(
        select(reason_class, func.count(func.distinct(WorkOrder.id)))
        .outerjoin(
            PushAttempt,
            and_(
                PushAttempt.work_order_id == WorkOrder.id,
                PushAttempt.outcome == "failed",
                PushAttempt.kind == "install",
            ),
        )
        .where(_in(period), PushValidation.PUSH_FAILED.value == STATE)
        .group_by(reason_class)
    ).all()
    rows = [
        {"reason": f"verification:{o}", "work_orders": w, "endpoints": e}
        for o, w, e in verification
    ] + [{"reason": f"push:{c}", "work_orders": w, "endpoints": None} for c, w in push]
    frame = pd.DataFrame(rows, columns=["reason", "work_orders", "endpoints"])
    frame.insert(1, "label", [failure_label(r) for r in frame["reason"]])
    frame["endpoints"] = frame["endpoints"].astype("Int64")
    return frame.sort_values(["work_orders", "reason"], ascending=[False, True]).reset_index(
        drop=True
    )


# ----------------------------------------------------------------------------- drill-down


@dataclass(frozen=True)
class Selection:
    """What was clicked: any combination narrows the list of work orders."""

    bucket_first: str | None = None  # ISO date of a trend bucket's first day
    bucket_last: str | None = None
    state: str | None = None  # a PushValidation value, or "failed" for both failures
    reason: str | None = None  # "verification:mismatch", "push:auth", ...
    device: str | None = None  # connector name
    connector_type: str | None = None


def _selection_filter(period: Period, sel: Selection):
    from datetime import date

    conditions = [_in(period)]
    if sel.bucket_first:
        first = date.fromisoformat(sel.bucket_first)
        last = date.fromisoformat(sel.bucket_last or sel.bucket_first)
        conditions += [
            WorkOrder.pushed_at >= period.midnight(first),
            WorkOrder.pushed_at < period.midnight(last + timedelta(days=1)),
        ]
    if sel.state == "failed":
        conditions.append(
            STATE.in_([PushValidation.FAILED_VERIFICATION.value, PushValidation.PUSH_FAILED.value])
        )
    elif sel.state:
        conditions.append(PushValidation(sel.state).value == STATE)
    if sel.device:
        conditions.append(Connector.name == sel.device)
    if sel.connector_type:
        conditions.append(Connector.type == sel.connector_type)
    if sel.reason:
        kind, _, value = sel.reason.partition(":")
        if kind == "verification":
            conditions.append(WorkOrder.verification == "failed")
            conditions.append(
                exists().where(deciding_results(), VerificationResult.outcome == value)
            )
        elif value == "interrupted":
            conditions.append(PushValidation.PUSH_FAILED.value == STATE)
            conditions.append(
                ~exists().where(
                    PushAttempt.work_order_id == WorkOrder.id, PushAttempt.outcome == "failed"
                )
            )
        else:
            conditions.append(PushValidation.PUSH_FAILED.value == STATE)
            conditions.append(
                exists().where(
                    PushAttempt.work_order_id == WorkOrder.id,
                    PushAttempt.outcome == "failed",
                    PushAttempt.reason_class == value,
                )
            )
    return and_(*conditions)


DRILL_COLUMNS = [
    "work_order",
    "request",
    "certificate",
    "fingerprint",
    "device",
    "connector_type",
    "pushed_at",
    "state",
    "reason",
]


def work_orders_behind(
    session: Session, period: Period, selection: Selection, limit: int = 200
) -> tuple[pd.DataFrame, int]:
    """The work orders behind a clicked bar, reason or device (newest first) and how many."""
    where = _selection_filter(period, selection)
    base = select(WorkOrder.id).join(Connector, Connector.id == WorkOrder.connector_id).where(where)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        select(
            WorkOrder.id,
            WorkOrder.request_id,
            Certificate.common_name,
            Certificate.fingerprint_sha256,
            Connector.name,
            Connector.type,
            WorkOrder.pushed_at,
            STATE,
            WorkOrder.reason,
            PushRequest.emergency,
        )
        .join(Connector, Connector.id == WorkOrder.connector_id)
        .join(PushRequest, PushRequest.id == WorkOrder.request_id)
        .join(Certificate, Certificate.id == PushRequest.certificate_id)
        .where(where)
        .order_by(WorkOrder.pushed_at.desc(), WorkOrder.id.desc())
        .limit(limit)
    ).all()
    frame = pd.DataFrame(
        [
            (
                work_order_id(r[0]),
                request_id(r[1]) + (EMERGENCY if r[9] else ""),
                r[2] or "",
                r[3],
                r[4],
                r[5],
                r[6],
                STYLES[PushValidation(r[7])].label,
                r[8] or "",
            )
            for r in rows
        ],
        columns=DRILL_COLUMNS,
    )
    return frame, total


# ----------------------------------------------------------------------------- per push


PUSH_COLUMNS = [
    "work_order",
    "request",
    "certificate_cn",
    "certificate_fingerprint",
    "device",
    "connector_type",
    "requested_by",
    "requested_at",
    "pushed_at",
    "verified_at",
    "state",
    "endpoints_checked",
    "endpoints_failed",
    "failure_outcomes",
    "reason",
]


def push_rows(session: Session, period: Period, batch: int = 2000) -> Iterator[dict]:
    """One dict per push of the period, streamed in batches (exports; never all in memory).

    Only inventory facts and outcomes: no key material or connector secret is read.
    """
    checked, failed = deciding_counts()
    outcomes = (
        select(func.aggregate_strings(VerificationResult.outcome, ","))
        .where(deciding_results(), VerificationResult.outcome != "match")
        .scalar_subquery()
    )
    query = (
        with_push_facts(
            select(
                WorkOrder.id,
                WorkOrder.request_id,
                Certificate.common_name,
                Certificate.fingerprint_sha256,
                Connector.name,
                Connector.type,
                PushRequest.requester,
                PushRequest.created_at,
                WorkOrder.pushed_at,
                WorkOrder.verified_at,
                STATE,
                checked,
                failed,
                outcomes,
                WorkOrder.reason,
                PushRequest.emergency,
            )
        )
        .where(_in(period))
        .order_by(WorkOrder.pushed_at, WorkOrder.id)
        .execution_options(yield_per=batch)
    )
    for r in session.execute(query):
        yield {
            "work_order": work_order_id(r[0]),
            "request": request_id(r[1]) + (EMERGENCY if r[15] else ""),
            "certificate_cn": r[2] or "",
            "certificate_fingerprint": r[3],
            "device": r[4],
            "connector_type": r[5],
            "requested_by": r[6],
            "requested_at": r[7],
            "pushed_at": r[8],
            "verified_at": r[9],
            "state": r[10],
            "endpoints_checked": r[11] or 0,
            "endpoints_failed": int(r[12] or 0),
            "failure_outcomes": ",".join(sorted(set(filter(None, (r[13] or "").split(","))))),
            "reason": r[14] or "",
        }


# ----------------------------------------------------------------------------- expiry


@dataclass(frozen=True)
class ExpiryOutlook:
    by_colour: dict[Status, int]
    expiring: dict[int, int]  # days → certificates (not revoked) expiring within them


def expiry_outlook(session: Session, now: datetime) -> ExpiryOutlook:
    expiring = {
        days: session.scalar(
            select(func.count())
            .select_from(Certificate)
            .where(
                Certificate.not_after > now,
                Certificate.not_after <= now + timedelta(days=days),
                Certificate.revoked_at.is_(None),
            )
        )
        or 0
        for days in EXPIRY_HORIZONS
    }
    return ExpiryOutlook(status_counts(session, now), expiring)
