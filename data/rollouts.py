"""Rollouts: a push request with several work orders goes canary first, then in waves.

Placeholder interface used by the scheduler (data/workorders.py claim_due and the push
job's end); the rules arrive with the rollout module.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from data.models import WorkOrder


def may_start(session: Session, wo: WorkOrder, now: datetime) -> bool:
    """Whether a due work order's turn in its rollout has come (always, without one)."""
    return True


def after_end(session: Session, wo_id: int, now: datetime) -> None:
    """Called in the transaction that moved a work order to a final status."""
