"""The topology's side panel and the work order timeline, built from plain values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from dashboard.components.node_details import HINT, MAX_ROWS, node_details
from dashboard.components.workorders import timeline
from data.domain.push_validation import PushValidation, PushVerdict
from data.domain.workflow import WorkOrderStatus
from data.workorders import EventView, WorkOrderView

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _json(component) -> str:
    return json.dumps(component.to_plotly_json(), default=_plain, ensure_ascii=False)


def _plain(value):
    return value.to_plotly_json() if hasattr(value, "to_plotly_json") else str(value)


def _order() -> WorkOrderView:
    return WorkOrderView(
        id=7, request_number=3, status=WorkOrderStatus.COMPLETED, connector="lb-1",
        connector_id=1, certificate="ab" * 32, common_name="shop.example", requester="olivia",
        comment="", run_at=None, proposed_at=None, reason="", version=5, levels_done=2,
        created_at=T, updated_at=T,
    )  # fmt: skip


def _events() -> list[EventView]:
    steps = [("olivia", "request"), ("ravi", "approve"), ("ines", "implement"),
             ("scheduler", "complete"), ("olivia", "cancel")]  # fmt: skip
    return [
        EventView(T + timedelta(minutes=i), who, what, None, "x", "")
        for i, (who, what) in enumerate(steps)
    ]


def _verdict(state: PushValidation, decided_at: datetime | None) -> PushVerdict:
    return PushVerdict(
        work_order_number=7, request_number=3, connector_id=1, connector="lb-1",
        certificate_fingerprint="ab" * 32, certificate_common_name="shop.example",
        status="Completed", pushed_at=T + timedelta(minutes=3), state=state,
        decided_at=decided_at, endpoints_checked=4 if decided_at else 0,
        endpoints_failed=1 if state is PushValidation.FAILED_VERIFICATION else 0,
    )  # fmt: skip


def _items(card) -> list[str]:
    [ol] = [c for c in card.children if getattr(c, "className", "").startswith("list-group")]
    return [_json(item) for item in ol.children]


def test_the_deciding_sweep_stands_in_the_timeline_where_it_happened():
    decided = T + timedelta(minutes=3, seconds=30)  # after "complete", before "cancel"
    card = timeline(_order(), _events(), UTC, _verdict(PushValidation.FAILED_VERIFICATION, decided))
    items = _items(card)
    assert len(items) == 6
    assert "scheduler" in items[3] and "olivia" in items[5]
    sweep = items[4]
    assert "Verification" in sweep and "decided: Failed verification" in sweep
    assert "2026-03-01 12:03 UTC" in sweep
    assert "4 endpoints: 3 matched, 1 failed" in sweep
    assert '"data-verdict": "failed_verification"' in sweep


def test_a_pending_push_says_the_sweep_is_awaited_and_a_failed_push_has_none():
    pending = _items(timeline(_order(), _events(), UTC, _verdict(PushValidation.PENDING, None)))
    assert "Verification" in pending[-1] and "pending" in pending[-1]
    failed = _verdict(PushValidation.PUSH_FAILED, None)
    assert not any("Verification" in i for i in _items(timeline(_order(), _events(), UTC, failed)))
    assert len(_items(timeline(_order(), _events(), UTC))) == 5


def test_node_details_are_text_rows_and_bounded():
    card = node_details(
        {
            "kind": "endpoint",
            "details": [["Endpoint", "<img src=x onerror=alert(1)>"], ["only one"], 5]
            + [["k", "v"]] * 100,
        }
    )
    text = _json(card)
    assert '"children": "<img src=x onerror=alert(1)>"' in text  # a string child: text
    assert "only one" not in text
    assert text.count('"children": "k"') == MAX_ROWS - 3  # of the first 40 items, 3 are not
    assert "Endpoint" in _json(card.children[0])
    assert HINT in _json(node_details(None))
    assert "hello" in _json(node_details({"kind": "?", "title": "hello"}))
