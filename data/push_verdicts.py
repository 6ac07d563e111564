"""What pushes came to, read from the database: the rule of push_validation.py as SQL.

The rule is defined once, in ``data/domain/push_validation.py``: the first sweep after a
push decides it (``work_orders.verification``, with the sweep's time in
``verified_at``), a push that did not install failed, anything else pushed is pending.
Here it becomes one SQL CASE (``STATE``) and one join condition for the deciding
sweep's rows (``deciding_results``), which the Push Validation Report
(``data/reports.py``) counts with and which ``last_pushes`` and ``verdict_of`` read per
connector and per work order for the topology, the work order timeline and
``certpush connectors list --json``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from data.domain.push_validation import OTHERWISE, RULES, PushValidation, PushVerdict
from data.models import Certificate, Connector, PushRequest, VerificationResult, WorkOrder

# The one rule as SQL: the same table, in the same order, as validation_of().
STATE = case(
    *[(getattr(WorkOrder, rule.column) == rule.value, rule.state.value) for rule in RULES],
    else_=OTHERWISE.value,
)


def deciding_results():
    """Result rows of the sweep that decided each work order (the first after its push)."""
    return and_(
        VerificationResult.work_order_id == WorkOrder.id,
        VerificationResult.at == WorkOrder.verified_at,
    )


def deciding_counts() -> tuple[Any, Any]:
    """Per work order, the deciding sweep's endpoints checked and failed.

    Correlated index lookups on (work_order_id, at, outcome): a few rows each, the same
    plan on SQLite and PostgreSQL, and under a streaming cursor too.
    """
    deciding = select(func.count()).where(deciding_results())
    failed = deciding.where(VerificationResult.outcome != "match")
    return deciding.scalar_subquery(), failed.scalar_subquery()


def with_push_facts(query: Select) -> Select:
    """A query over work orders joined to their connector, request and certificate."""
    return (
        query.join(Connector, Connector.id == WorkOrder.connector_id)
        .join(PushRequest, PushRequest.id == WorkOrder.request_id)
        .join(Certificate, Certificate.id == PushRequest.certificate_id)
    )


def _verdict_query() -> Select:
    """Every pushed work order with its state and the deciding sweep's endpoint counts."""
    checked, failed = deciding_counts()
    return with_push_facts(
        select(
            WorkOrder.id,
            WorkOrder.request_id,
            WorkOrder.connector_id,
            Connector.name,
            Certificate.fingerprint_sha256,
            Certificate.common_name,
            WorkOrder.status,
            WorkOrder.pushed_at,
            STATE,
            WorkOrder.verified_at,
            checked,
            failed,
            WorkOrder.reason,
        )
    ).where(WorkOrder.pushed_at.is_not(None))


def _verdict(row: Any) -> PushVerdict:
    state = PushValidation(row[8])
    decided = state in (PushValidation.VERIFIED, PushValidation.FAILED_VERIFICATION)
    return PushVerdict(
        work_order_number=row[0],
        request_number=row[1],
        connector_id=row[2],
        connector=row[3],
        certificate_fingerprint=row[4],
        certificate_common_name=row[5],
        status=row[6],
        pushed_at=row[7],
        state=state,
        decided_at=row[9] if decided else None,
        endpoints_checked=int(row[10] or 0) if decided else 0,
        endpoints_failed=int(row[11] or 0) if decided else 0,
        reason=(row[12] or "") if state is PushValidation.PUSH_FAILED else "",
    )


def last_pushes(
    session: Session,
    *,
    certificate_id: int | None = None,
    connector_ids: Collection[int] | None = None,
) -> dict[int, PushVerdict]:
    """Per connector id, its last push (the work order whose push ended last) and verdict.

    ``certificate_id`` keeps the pushes of one certificate (the topology); without it a
    connector's last push is of whichever certificate went last (the connector list).
    Connectors that never had a push are absent.
    """
    if connector_ids is not None and not connector_ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=WorkOrder.connector_id,
            order_by=(WorkOrder.pushed_at.desc(), WorkOrder.id.desc()),
        )
        .label("rank")
    )
    newest = select(WorkOrder.id.label("work_order_id"), rank).where(
        WorkOrder.pushed_at.is_not(None)
    )
    if certificate_id is not None:
        newest = newest.join(PushRequest, PushRequest.id == WorkOrder.request_id).where(
            PushRequest.certificate_id == certificate_id
        )
    if connector_ids is not None:
        newest = newest.where(WorkOrder.connector_id.in_(list(connector_ids)))
    ranked = newest.subquery()
    rows = session.execute(
        _verdict_query()
        .join(ranked, ranked.c.work_order_id == WorkOrder.id)
        .where(ranked.c.rank == 1)
    )
    return {verdict.connector_id: verdict for verdict in map(_verdict, rows)}


def verdicts_of(session: Session, work_order_ids: Iterable[int]) -> dict[int, PushVerdict]:
    """Per work order id, its push and verdict; work orders not pushed (yet) are absent."""
    wanted = list(work_order_ids)
    if not wanted:
        return {}
    rows = session.execute(_verdict_query().where(WorkOrder.id.in_(wanted)))
    return {verdict.work_order_number: verdict for verdict in map(_verdict, rows)}


def verdict_of(session: Session, work_order_id: int) -> PushVerdict | None:
    """One work order's push and verdict, or None when it has not been pushed."""
    return verdicts_of(session, [work_order_id]).get(work_order_id)
