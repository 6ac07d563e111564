"""The topology graph: which nodes a certificate's connectors and endpoints become.

Pure functions on hand-built view objects; no database and no browser (the draw times
are measured by bench/topology_fan.py).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from dashboard.graph import (
    FAN_LIMIT,
    LAYOUT,
    MAX_EXPANDED,
    STYLESHEET,
    last_push_line,
    topology_elements,
    verdict_counts,
    verdict_phrase,
)
from data.domain.nodes import (
    CONNECTOR_STATES,
    ENDPOINT_STATES,
    ConnectorState,
    ConnectorView,
    EndpointState,
    EndpointView,
)
from data.domain.push_validation import PushVerdict
from data.domain.status import Status
from data.queries import CertificateDetail, CertificateRow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def certificate(common_name: str | None = "shop.example") -> CertificateDetail:
    row = CertificateRow(
        id=1,
        fingerprint_sha256="ab" * 32,
        common_name=common_name,
        sans=("shop.example",),
        issuer="CN=Example CA",
        serial="01",
        not_before=NOW,
        not_after=NOW.replace(year=2027),
        days_left=365,
        status=Status.GREEN,
    )
    return CertificateDetail(
        row=row,
        subject="CN=shop.example",
        key_type="EC",
        key_size=256,
        signature_algorithm="ecdsa-with-SHA256",
        extended_key_usage=("serverAuth",),
        is_ca=False,
        has_private_key=True,
        revoked_at=None,
        revocation_reason=None,
        parse_warnings=(),
        source="test",
    )


def connector(
    connector_id: int,
    states: list[EndpointState],
    *,
    name: str = "",
    state: ConnectorState = ConnectorState.INSTALLED,
    detail: str = "",
) -> ConnectorView:
    """A connector whose endpoints have ids connector_id * 10,000 + i, in ``states`` order."""
    endpoints = tuple(
        EndpointView(connector_id * 10_000 + i, f"10.0.{connector_id}.{i % 250}", 443 + i, None, s)
        for i, s in enumerate(states)
    )
    return ConnectorView(
        connector_id, name or f"lb-{connector_id}", "nginx", state, endpoints, detail
    )


def mixed(match: int = 0, unreachable: int = 0, unverified: int = 0, mismatch: int = 0):
    return (
        [EndpointState.MATCH] * match
        + [EndpointState.UNREACHABLE] * unreachable
        + [EndpointState.UNVERIFIED] * unverified
        + [EndpointState.MISMATCH] * mismatch
    )


def nodes(elements: list[dict], kind: str | None = None) -> list[dict]:
    found = [e for e in elements if "source" not in e["data"]]
    return [e for e in found if kind is None or e["data"]["kind"] == kind]


def edges(elements: list[dict]) -> set[tuple[str, str]]:
    return {(e["data"]["source"], e["data"]["target"]) for e in elements if "source" in e["data"]}


def by_id(elements: list[dict], element_id: str) -> dict:
    [element] = [e for e in elements if e["data"]["id"] == element_id]
    return element


def test_the_certificate_alone_stays_the_one_argument_call():
    [node] = topology_elements(certificate())
    assert node["data"]["id"] == "certificate"
    assert node["data"]["kind"] == "certificate"
    assert node["classes"] == "certificate status-green"
    assert "shop.example" in node["data"]["title"]


def test_a_small_connector_shows_every_endpoint():
    small = connector(7, mixed(match=2, unreachable=1), detail="installed 2026-11-27 15:02 UTC")
    elements = topology_elements(certificate(), [small])

    hub = by_id(elements, "connector-7")
    assert hub["classes"] == "connector connector-installed"
    assert hub["data"]["label"] == "lb-7\nInstalled"  # name and state; the rest on hover
    assert ["Latest attempt", "installed 2026-11-27 15:02 UTC"] in hub["data"]["details"]
    endpoint_ids = [n["data"]["id"] for n in nodes(elements, "endpoint")]
    assert endpoint_ids == ["endpoint-70000", "endpoint-70001", "endpoint-70002"]
    assert by_id(elements, "endpoint-70002")["classes"] == "endpoint endpoint-unreachable"
    assert by_id(elements, "endpoint-70000")["data"]["label"] == "10.0.7.0:443\nMatch"
    assert by_id(elements, "endpoint-70002")["data"]["label"] == "10.0.7.2:445\nUnreachable"
    assert edges(elements) == {
        ("certificate", "connector-7"),
        *(("connector-7", i) for i in endpoint_ids),
    }
    assert nodes(elements, "summary") == []


def test_exactly_fan_limit_endpoints_are_still_drawn_one_by_one():
    elements = topology_elements(certificate(), [connector(1, mixed(match=FAN_LIMIT))])
    assert len(nodes(elements, "endpoint")) == FAN_LIMIT
    assert nodes(elements, "summary") == []


def test_more_than_fan_limit_endpoints_collapse_into_one_summary_with_counts():
    big = connector(3, mixed(match=950, unreachable=30, unverified=20))
    elements = topology_elements(certificate(), [big])

    assert nodes(elements, "endpoint") == []
    [summary] = nodes(elements, "summary")
    assert summary["data"]["id"] == "summary-3"
    assert summary["classes"] == "endpoint-summary"
    assert summary["data"]["connector_id"] == 3  # what a tap hands to the expand callback
    assert summary["data"]["expanded"] is False
    # Zero counts left out; states in ENDPOINT_STATES order, one per line.
    assert summary["data"]["label"] == "1,000 endpoints\n20 unverified\n950 match\n30 unreachable"
    assert summary["data"]["counts"] == {"unverified": 20, "match": 950, "unreachable": 30}
    assert "20 unverified · 950 match · 30 unreachable" in summary["data"]["title"]
    assert summary["data"]["share_match"] == 95.0
    assert summary["data"]["share_mismatch"] == 0.0
    assert ("connector-3", "summary-3") in edges(elements)


def test_twenty_connectors_of_a_thousand_endpoints_make_forty_one_nodes():
    fleet = [connector(i, mixed(match=900, unreachable=60, mismatch=40)) for i in range(1, 21)]
    elements = topology_elements(certificate(), fleet)
    assert len(nodes(elements)) == 1 + 20 + 20
    assert len(edges(elements)) == 20 + 20


def test_an_expanded_connector_draws_at_most_max_expanded_endpoints_and_a_more_node():
    states = mixed(match=MAX_EXPANDED, unreachable=500, unverified=300)
    fleet = [connector(1, states), connector(2, states)]
    elements = topology_elements(certificate(), fleet, expanded={1})

    drawn = nodes(elements, "endpoint")
    assert len(drawn) == MAX_EXPANDED
    assert {n["data"]["connector_id"] for n in drawn} == {1}
    more = by_id(elements, "more-1")
    assert more["data"]["kind"] == "summary"
    assert more["data"]["expanded"] is True
    assert more["data"]["connector_id"] == 1
    assert more["classes"] == "endpoint-summary endpoint-more"
    assert more["data"]["label"] == "+800 more\n300 unverified\n500 unreachable"
    # The last cell of the connector's grid: the frame has the one edge.
    assert ("connector-1", "group-1") in edges(elements)
    assert ("connector-1", "more-1") not in edges(elements)
    # The other connector stays collapsed.
    assert by_id(elements, "summary-2")["data"]["endpoint_count"] == 1000


def test_expanding_a_connector_between_the_limits_draws_all_of_it():
    elements = topology_elements(certificate(), [connector(4, mixed(match=60))], expanded=[4])
    assert len(nodes(elements, "endpoint")) == 60
    assert nodes(elements, "summary") == []


@pytest.mark.parametrize("expanded", [(), (2,), (1, 2, 3)])
def test_every_element_id_is_unique(expanded):
    fleet = [
        connector(1, mixed(match=3)),
        connector(2, mixed(match=400, unreachable=10)),
        connector(3, mixed(unverified=30)),
    ]
    elements = topology_elements(certificate(), fleet, expanded)
    ids = [e["data"]["id"] for e in elements]
    assert len(ids) == len(set(ids))
    node_ids = {n["data"]["id"] for n in nodes(elements)}
    assert all(s in node_ids and t in node_ids for s, t in edges(elements))


def test_an_endpoint_under_two_connectors_is_one_node_with_two_edges():
    shared = EndpointView(99, "10.9.9.9", 443, "shop.example", EndpointState.MATCH)
    fleet = [
        ConnectorView(1, "a", "nginx", ConnectorState.INSTALLED, (shared,)),
        ConnectorView(2, "b", "nginx", ConnectorState.INSTALLED, (shared,)),
    ]
    elements = topology_elements(certificate(), [*fleet, fleet[0]])  # and one listed twice
    ids = [e["data"]["id"] for e in elements]
    assert ids.count("endpoint-99") == 1 and len(ids) == len(set(ids))
    assert {("connector-1", "endpoint-99"), ("connector-2", "endpoint-99")} <= edges(elements)
    assert len(nodes(elements)) == 4


def _selector_classes() -> set[str]:
    classes: set[str] = set()
    for rule in STYLESHEET:
        classes.update(re.findall(r"\.([\w-]+)", rule["selector"]))
    return classes


def test_every_class_used_has_a_stylesheet_rule():
    fleet = [
        connector(1, list(EndpointState), state=ConnectorState.NOT_PUSHED),
        connector(2, mixed(match=300), state=ConnectorState.FAILED),
        connector(3, mixed(mismatch=40)),
    ]
    elements = topology_elements(certificate(), fleet, expanded={2})
    used = {c for e in elements for c in e.get("classes", "").split()}
    assert {"certificate", "connector", "endpoint", "endpoint-summary", "endpoint-more"} <= used
    assert used - _selector_classes() == set()


def test_every_state_has_its_colour_from_the_tables_and_no_colour_reaches_elements():
    rules = {rule["selector"]: rule["style"] for rule in STYLESHEET}
    for state, style in CONNECTOR_STATES.items():
        assert rules[f".connector-{state.value}"]["background-color"] == style.hex
    for state, style in ENDPOINT_STATES.items():
        assert rules[f".endpoint-{state.value}"]["background-color"] == style.hex
    pie = rules[".endpoint-summary"]
    assert [pie[f"pie-{i}-background-color"] for i in range(1, len(ENDPOINT_STATES) + 1)] == [
        s.hex for s in ENDPOINT_STATES.values()
    ]

    fleet = [
        connector(1, list(EndpointState)),
        connector(2, mixed(match=300, unreachable=5)),
        connector(3, mixed(mismatch=40), state=ConnectorState.FAILED),
    ]
    text = json.dumps(topology_elements(certificate(), fleet, expanded={2}))
    assert re.search(r"#[0-9a-fA-F]{3,8}\b", text) is None
    assert "rgb" not in text.lower()


def test_labels_are_plain_text_and_keep_their_lines():
    name = "<b>x</b>"
    hostile = connector(
        5,
        mixed(match=1),
        name=name,
        state=ConnectorState.FAILED,
        detail="<script>alert(1)</script>",
    )
    elements = topology_elements(certificate("<img src=x onerror=alert(1)>"), [hostile])
    root = by_id(elements, "certificate")
    assert root["data"]["label"] == "<img src=x onerror=alert(1)>\nGreen"
    assert by_id(elements, "connector-5")["data"]["label"] == "<b>x</b>\nPush failed"
    assert ["Latest attempt", "<script>alert(1)</script>"] in by_id(elements, "connector-5")[
        "data"
    ]["details"]
    for element in nodes(elements):
        assert isinstance(element["data"]["label"], str)
        assert isinstance(element["data"]["title"], str)
        assert all(isinstance(v, str) for row in element["data"]["details"] for v in row)


def test_a_name_cannot_add_label_lines_and_a_long_detail_goes_to_the_title_only():
    reason = "TLS handshake with 10.0.0.1:443 failed: certificate verify failed " * 3
    odd = connector(6, mixed(match=1), name="two\nlines  here", detail=reason)
    node = by_id(topology_elements(certificate(), [odd]), "connector-6")
    assert node["data"]["label"] == "two lines here\nInstalled"
    assert reason in node["data"]["title"]
    runaway = connector(8, [], name="x" * 500)
    label = by_id(topology_elements(certificate(), [runaway]), "connector-8")["data"]["label"]
    assert len(label.split("\n")[0]) <= 48


def test_every_node_says_what_it_is_and_has_hover_text():
    fleet = [connector(1, mixed(match=2)), connector(2, mixed(match=300))]
    elements = topology_elements(certificate(None), fleet, expanded={2})
    kinds = {n["data"]["kind"] for n in nodes(elements)}
    assert kinds == {"certificate", "connector", "endpoint", "summary", "group"}
    assert all(n["data"]["title"] and n["data"]["details"] for n in nodes(elements))
    assert by_id(elements, "certificate")["data"]["label"] == "(no common name)\nGreen"


def test_layout_is_one_that_does_not_freeze_the_tab():
    # Positions come with the elements (graph_layout.py); cose would freeze the tab.
    assert LAYOUT["name"] == "preset" and LAYOUT["fit"] is True
    elements = topology_elements(certificate(), [connector(1, mixed(match=30))], expanded={1})
    assert all("position" in n for n in nodes(elements))


def test_a_connector_shows_its_work_order_id_and_status_beside_it():
    from dataclasses import replace

    pending = replace(
        connector(9, mixed(match=1), state=ConnectorState.NOT_PUSHED),
        work_order="WO-000123",
        work_order_status="Push-Review In Progress",
        work_order_final=False,
    )
    node = by_id(topology_elements(certificate(), [pending]), "connector-9")
    assert node["data"]["label"] == "lb-9\nWO-000123 · Push-Review In Progress\nNot pushed"
    assert node["data"]["work_order"] == "WO-000123"
    assert node["data"]["work_order_status"] == "Push-Review In Progress"
    assert node["classes"] == "connector connector-not-pushed workorder-open"
    assert "Work order WO-000123 · Push-Review In Progress" in node["data"]["title"]


def test_a_scheduled_or_failed_work_order_says_when_or_why_on_hover_only():
    from dataclasses import replace

    at = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    scheduled = replace(
        connector(1, []),
        work_order="WO-000001",
        work_order_status="Push-Scheduled",
        run_at=at,
        work_order_final=False,
    )
    failed = replace(
        connector(2, [], state=ConnectorState.FAILED),
        work_order="WO-000002",
        work_order_status="Failed",
        work_order_reason="missed schedule: the scheduler was down",
    )
    elements = topology_elements(certificate(), [scheduled, failed])
    one, two = by_id(elements, "connector-1"), by_id(elements, "connector-2")
    assert one["data"]["label"] == "lb-1\nWO-000001 · Push-Scheduled\nInstalled"
    assert "push at 2026-03-02 14:30 UTC" in one["data"]["title"]
    assert two["classes"] == "connector connector-failed"  # final: no in-flight border
    assert "missed schedule" in two["data"]["title"]
    assert "missed schedule" not in two["data"]["label"]


def test_work_order_classes_have_stylesheet_rules():
    from dataclasses import replace

    open_one = replace(
        connector(1, []), work_order="WO-1", work_order_status="Push In Progress",
        work_order_final=False,
    )  # fmt: skip
    elements = topology_elements(certificate(), [open_one])
    used = {c for e in elements for c in e.get("classes", "").split()}
    assert used - _selector_classes() == set()


# ----------------------------------------------------------------------------- verdicts


def verdict(state, *, work_order: int = 7, decided: bool = True, **extra) -> PushVerdict:
    from data.domain.push_validation import PushValidation

    done = decided and state in (PushValidation.VERIFIED, PushValidation.FAILED_VERIFICATION)
    return PushVerdict(
        work_order_number=work_order,
        request_number=3,
        connector_id=1,
        connector="lb-1",
        certificate_fingerprint="ab" * 32,
        certificate_common_name="shop.example",
        status=extra.pop("status", "Failed" if state == "push_failed" else "Completed"),
        pushed_at=NOW,
        state=state,
        decided_at=NOW.replace(minute=4) if done else None,
        endpoints_checked=3 if done else 0,
        endpoints_failed=(1 if state == "failed_verification" else 0) if done else 0,
        **extra,
    )


def with_push(push: PushVerdict, newest: str = "WO-000007", status: str = "Completed"):
    from dataclasses import replace

    return replace(
        connector(1, mixed(match=3)), work_order=newest, work_order_status=status, last_push=push
    )


@pytest.mark.parametrize(
    ("state", "label_end", "row"),
    [
        ("verified", "Verified 2026-03-01 12:04 UTC",
         "WO-000007 · Completed · Verified 2026-03-01 12:04 UTC"),
        ("failed_verification", "Failed verification\n2026-03-01 12:04 UTC",
         "WO-000007 · Completed · Failed verification 2026-03-01 12:04 UTC"),
        ("pending", "Verifying…", "WO-000007 · Completed · Verifying…"),
        ("push_failed", "Push failed", "WO-000007 · Failed"),
    ],
)  # fmt: skip
def test_the_connector_says_what_its_last_push_came_to(state, label_end, row):
    from data.domain.push_validation import PushValidation

    push = verdict(PushValidation(state), reason="auth: refused" if state == "push_failed" else "")
    status = push.status
    node = by_id(topology_elements(certificate(), [with_push(push, status=status)]), "connector-1")
    assert node["data"]["label"] == f"lb-1\nWO-000007 · {status}\n{label_end}"
    assert node["data"]["verdict"] == state
    assert last_push_line(push) == row
    details = dict(map(tuple, node["data"]["details"]))
    assert details["Last push"] == f"WO-000007 · {status} · 2026-03-01 12:00 UTC"
    if state in ("verified", "failed_verification"):
        assert verdict_counts(push) in details["Verification"]
    if state == "push_failed":
        assert details["Push failure"] == "auth: refused"


def test_a_newer_work_order_does_not_hide_the_last_push():
    from data.domain.push_validation import PushValidation

    view = with_push(verdict(PushValidation.VERIFIED), "WO-000009", "Push-Approval Pending")
    node = by_id(topology_elements(certificate(), [view]), "connector-1")
    assert node["data"]["label"] == (
        "lb-1\nWO-000009 · Push-Approval Pending\nLast push: Verified\n2026-03-01 12:04 UTC"
    )


def test_verdict_times_in_the_details_follow_the_browser_zone():
    from zoneinfo import ZoneInfo

    from data.domain.push_validation import PushValidation

    push = verdict(PushValidation.VERIFIED)
    assert verdict_phrase(push, ZoneInfo("Europe/Berlin")) == (
        "Verified 2026-03-01 13:04 CET (12:04 UTC)"
    )
    assert verdict_counts(push) == "3 endpoints: 3 matched, 0 failed"
    assert verdict_counts(verdict(PushValidation.PENDING)) == ""
    elements = topology_elements(certificate(), [with_push(push)], zone=ZoneInfo("Europe/Berlin"))
    node = by_id(elements, "connector-1")
    assert node["data"]["label"].endswith("Verified 2026-03-01 12:04 UTC")  # labels: UTC
    assert "13:04 CET" in dict(map(tuple, node["data"]["details"]))["Verification"]


def test_a_connector_shows_its_maintenance_windows_in_its_details():
    from dataclasses import replace

    windowed = replace(
        connector(1, []), windows="Tue,Thu 22:00-02:00 Europe/Paris\nSat 10:00-12:00 UTC"
    )
    elements = topology_elements(certificate(), [windowed, connector(2, [])])
    one, two = by_id(elements, "connector-1"), by_id(elements, "connector-2")
    said = "Tue,Thu 22:00-02:00 Europe/Paris; Sat 10:00-12:00 UTC"
    assert ["Maintenance windows", said] in one["data"]["details"]
    assert f"Maintenance windows: {said}" in one["data"]["title"]
    assert ["Maintenance windows", "any time"] in two["data"]["details"]
    assert "Europe/Paris" not in one["data"]["label"]  # details only, the label stays short
