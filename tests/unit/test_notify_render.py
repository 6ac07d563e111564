"""What notifications say: every kind of event, hostile certificate data escaped, header
values on one line, webhook bodies limited to the payload's known fields."""

from __future__ import annotations

import json

import pytest

from data.domain.notifications import LABELS, EventKind
from jobs.notify.render import header_safe, link_for, render, report_links, webhook_body

BASE = "https://certpush.example:8443"
FP = "ab" * 32
AT = "2026-06-01T12:00:00+00:00"
CERT = {"common_name": "shop.example", "fingerprint": FP, "not_after": "2026-07-01T00:00:00+00:00"}
TOPOLOGY = f"/certificates/{FP}/topology"
HOSTILE = '<script>alert("x")</script>\r\nBcc: victim@example.org'


def work_order_payload(kind: EventKind, **extra) -> dict:
    payload = {
        "event": kind.value, "work_order": "WO-000012", "request": "REQ-000007",
        "requester": "olivia", "status": "Push-Approval Pending", "run_at": None,
        "reason": "", "request_comment": "renewal", "comment": "looks right",
        "actor": "ravi", "action": "approve", "at": AT, "certificate": dict(CERT),
        "connector": {"name": "shop-nginx", "zone": "dmz"}, "path": TOPOLOGY,
    }  # fmt: skip
    if kind is EventKind.APPROVAL_NEEDED:
        payload["level"] = "Implement"
    payload.update(extra)
    return payload


def payload_for(kind: EventKind) -> dict:
    """One payload per kind, as data/notifications.py's contract describes it."""
    if kind is EventKind.APPROVAL_NEEDED or kind in {
        EventKind.APPROVED, EventKind.REJECTED, EventKind.SCHEDULED, EventKind.IMPLEMENTED,
        EventKind.COMPLETED, EventKind.FAILED, EventKind.FAILED_VERIFICATION,
        EventKind.ROLLED_BACK, EventKind.ROLLBACK_FAILED, EventKind.CANCELLED,
        EventKind.ROLLOUT_HALTED,
    }:  # fmt: skip
        return work_order_payload(kind)
    common = {"event": kind.value, "at": AT}
    if kind is EventKind.EXPIRY_ALERT:
        return {**common, "certificate": dict(CERT), "colour": "orange", "days_left": 12,
                "connectors": ["shop-nginx", "shop-haproxy"], "path": TOPOLOGY}  # fmt: skip
    if kind is EventKind.DRIFT_DETECTED:
        return {**common, "certificate": dict(CERT),
                "connector": {"name": "shop-nginx", "zone": "local"},
                "endpoint": "10.0.0.5:443", "served_fingerprint": "cd" * 32,
                "path": TOPOLOGY}  # fmt: skip
    if kind is EventKind.AGENT_OFFLINE:
        return {**common, "zone": "dmz", "agent": "agent-dmz-1", "path": "/agents"}
    if kind is EventKind.ZONE_OFFLINE:
        return {**common, "zone": "dmz", "path": "/agents"}
    if kind is EventKind.WEEKLY_REPORT:
        return {**common, "report_id": 4, "path": "/reports",
                "period": {"label": "2026-W22", "start": "2026-05-25", "end": "2026-05-31",
                           "time_zone": "Europe/Paris"},
                "files": {"csv": "w.csv", "xlsx": "w.xlsx", "pdf": "w.pdf"}}  # fmt: skip
    if kind is EventKind.EXPIRY_DIGEST:
        return {**common, "path": "/", "certificates": [
            {"common_name": "red.example", "fingerprint": "11" * 32, "colour": "red",
             "not_after": AT, "days_left": 3, "connectors": ["a"],
             "path": f"/certificates/{'11' * 32}/topology"},
            {"common_name": "yellow.example", "fingerprint": "22" * 32, "colour": "yellow",
             "not_after": AT, "days_left": 50, "connectors": ["b", "c"],
             "path": f"/certificates/{'22' * 32}/topology"},
        ]}  # fmt: skip
    if kind is EventKind.DIGEST:
        return {**common, "path": "/", "items": [
            {"event": "approved", "title": "Approved", "work_order": "WO-000003",
             "certificate": dict(CERT), "connector": {"name": "shop-nginx", "zone": "local"},
             "at": AT, "path": TOPOLOGY},
            {"event": "drift_detected", "title": "Drift detected", "work_order": None,
             "certificate": "plain.example", "connector": "edge", "at": AT, "path": TOPOLOGY},
        ]}  # fmt: skip
    raise AssertionError(f"no sample payload for {kind}")


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_says_what_happened_and_links_the_next_step(kind):
    payload = payload_for(kind)
    message = render(kind.value, payload, BASE)
    said = "Certificate turned Orange" if kind is EventKind.EXPIRY_ALERT else LABELS[kind]
    assert message.subject.startswith(f"[certpush] {said}")
    assert message.link == BASE + payload["path"]
    assert message.link in message.text and f'href="{message.link}"' in message.html
    assert "2026-06-01 12:00 UTC" in message.text  # when
    if "certificate" in payload:
        assert "shop.example" in message.text and FP in message.text  # CN and fingerprint
        assert "shop.example" in message.subject and FP in message.html
    if "work_order" in payload:
        assert "WO-000012" in message.subject and "WO-000012" in message.text
        assert "shop-nginx" in message.text and "ravi" in message.text  # connector, by whom
    body = json.loads(webhook_body(kind.value, payload, BASE))
    assert body["event"] == kind.value and body["link"] == message.link
    assert body["title"] == message.subject


def test_a_hostile_common_name_is_escaped_and_cannot_forge_a_header():
    payload = work_order_payload(EventKind.APPROVAL_NEEDED, comment="<b>ok</b>\r\nsecond line")
    payload["certificate"]["common_name"] = HOSTILE
    payload["connector"]["name"] = "<img src=x onerror=alert(1)>"
    message = render("approval_needed", payload, BASE)
    assert "\r" not in message.subject and "\n" not in message.subject
    assert "<script>" in message.subject  # a subject is text, shown as text
    assert (
        "<script" not in message.html and "<img" not in message.html and "<b>" not in message.html
    )
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in message.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in message.html
    # in the plain text the value stays on its line: no line of its own starts "Bcc:"
    assert not any(line.startswith("Bcc:") for line in message.text.splitlines())
    assert "\r" not in message.text
    body = json.loads(webhook_body("approval_needed", payload, BASE))
    assert body["certificate"]["common_name"].startswith("<script>")  # JSON escapes itself


def test_header_safe_removes_every_line_break_and_control():
    assert header_safe("a\r\nb\x00c\u2028d\x85e\tf") == "a b c d e f"
    assert len(header_safe("x" * 500)) == 180 and header_safe("x" * 500).endswith("…")


def test_links_stay_under_the_base_url():
    assert link_for(BASE + "/", "/reports") == BASE + "/reports"
    assert link_for(BASE, "javascript:alert(1)").startswith(BASE + "/")
    assert link_for(BASE, '/x"><script>').startswith(BASE + "/x%22%3E%3Cscript%3E")
    assert link_for(BASE, None) == BASE + "/"


def test_webhook_body_carries_only_known_fields():
    payload = work_order_payload(EventKind.FAILED_VERIFICATION, status="Failed Verification")
    payload["secret"] = "hunter2"
    payload["certificate"]["private_key"] = "-----BEGIN PRIVATE KEY-----"
    body = webhook_body("failed_verification", payload, BASE)
    assert "hunter2" not in body and "PRIVATE KEY" not in body
    parsed = json.loads(body)
    assert parsed["work_order"] == "WO-000012" and parsed["status"] == "Failed Verification"
    assert parsed["connector"] == {"name": "shop-nginx", "zone": "dmz"}


def test_weekly_report_says_attached_or_links_the_downloads():
    payload = payload_for(EventKind.WEEKLY_REPORT)
    links = report_links(BASE, 4, payload["files"])
    assert links["pdf"] == f"{BASE}/api/v1/reports/weekly/4/pdf"
    attached = render("weekly_report", payload, BASE, attached=["w.pdf", "w.xlsx"])
    linked = render("weekly_report", payload, BASE)
    assert "w.pdf, w.xlsx" in attached.text and "not attached" not in attached.text
    assert "not attached" in linked.text
    for message in (attached, linked):
        assert all(url in message.text for url in links.values())
    body = json.loads(webhook_body("weekly_report", payload, BASE))
    assert body["downloads"] == links and body["period"]["label"] == "2026-W22"


def test_digests_list_each_item_with_its_link():
    expiry = render("expiry_digest", payload_for(EventKind.EXPIRY_DIGEST), BASE)
    assert "2 certificate(s)" in expiry.subject
    for name, fp in (("red.example", "11" * 32), ("yellow.example", "22" * 32)):
        assert name in expiry.text and f"{BASE}/certificates/{fp}/topology" in expiry.html
    assert "Red" in expiry.text and "Yellow" in expiry.text and "b, c" in expiry.text
    empty = render("expiry_digest", {"event": "expiry_digest", "at": AT, "path": "/",
                                     "certificates": []}, BASE)  # fmt: skip
    assert "No certificate" in empty.text
    digest = render("digest", payload_for(EventKind.DIGEST), BASE)
    assert "2 event(s)" in digest.subject
    assert "WO-000003" in digest.text and "plain.example" in digest.text and "edge" in digest.text
    body = json.loads(webhook_body("digest", payload_for(EventKind.DIGEST), BASE))
    assert body["items"][0]["link"] == BASE + TOPOLOGY
    assert body["items"][0]["certificate"]["common_name"] == "shop.example"
