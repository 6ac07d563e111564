"""The evidence pack's readable side: one PDF of a work order's change (reportlab, offline).

Everything comes from the pack's ``evidence.json``; text from certificates, connectors and
comments is escaped before it reaches reportlab's markup.
"""

from __future__ import annotations

import shlex
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape


def _short(fingerprint: str | None) -> str:
    return f"{fingerprint[:16]}..." if fingerprint else "-"


def evidence_pdf(evidence: dict[str, Any]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    story: list = []

    def heading(text: str) -> None:
        story.append(Spacer(1, 3 * mm))
        story.append(Paragraph(escape(text), styles["Heading3"]))

    def line(text: str) -> None:
        story.append(Paragraph(escape(text), small))

    def table(rows: list[list[str]], widths: list[float]) -> None:
        cells = [[Paragraph(escape(str(c)), small) for c in row] for row in rows]
        t = Table(cells, colWidths=[w * mm for w in widths], repeatRows=1, hAlign="LEFT")
        t.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8E8E8")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ]))  # fmt: skip
        story.append(t)

    wo = evidence["work_order"]
    flag = " — EMERGENCY CHANGE" if wo.get("emergency") else ""
    story.append(Paragraph(escape(f"Evidence of {wo['id']} ({wo['request_id']}){flag}"),
                           styles["Title"]))  # fmt: skip
    line(f"Connector {wo['connector']}; certificate {wo.get('certificate_common_name') or ''} "
         f"{wo['certificate']}; status {wo['status']}; requested by {wo['requester']}: "
         f"{wo.get('comment') or ''}")  # fmt: skip
    line(f"Pack made {evidence['made_at']}")
    plan = evidence.get("plan")
    heading("Push plan")
    if plan is None:
        line("No push plan was recorded (requested before plans existed).")
    else:
        line(f"Digest (SHA-256 of the plan's canonical JSON): {plan['digest']}")
        profile = plan.get("profile") or {}
        line(f"Profile {profile.get('name')} ({profile.get('layout')}); target "
             f"{plan['connector']['target']}")  # fmt: skip
        table([["file", "mode", "contents"]]
              + [[f["path"], f["mode"], f.get("contents", "")] for f in plan.get("files", [])],
              [95, 15, 60])  # fmt: skip
        for name, argv in (plan.get("commands") or {}).items():
            line(f"{name}: {shlex.join(argv) if argv else 'none'} (run without a shell)")
        preflight = plan.get("preflight") or {}
        line(f"Preflight: {preflight.get('status', 'pending')} at {preflight.get('at', '-')}")
        for c in preflight.get("checks", []):
            line(f"  {c['status']}: {c['name']}: {c['message']}")
    heading("Approvals")
    table([["action", "by", "at", "plan digest", "stands"]]
          + [[a["action"], a["by"], a["at"], _short(a.get("plan_digest")),
              "yes" if a.get("stands") else "void"] for a in evidence.get("approvals", [])],
          [22, 25, 55, 40, 15])  # fmt: skip
    heading("Push attempts")
    table([["attempt", "started", "finished", "outcome", "reason"]]
          + [[str(a["id"]), a["started_at"], a["finished_at"] or "-",
              f"{a.get('kind', 'install')}: {a['outcome']}",
              a.get("reason") or ""] for a in evidence.get("push_attempts", [])],
          [15, 40, 40, 25, 50])  # fmt: skip
    heading("Endpoints: before and after")
    table([["endpoint", "before (preflight)", "after (deciding sweep)", "outcome"]]
          + [[f"{e['host']}:{e['port']} {e.get('sni') or ''}", _short(e.get("before")),
              _short(e.get("after")), e.get("outcome") or "not checked"]
             for e in evidence.get("endpoints", [])],
          [55, 40, 40, 35])  # fmt: skip
    verdict = evidence.get("verdict")
    line(f"Verdict: {verdict['verdict']['label'] if verdict else 'not pushed'}")
    rollback = evidence.get("rollback") or []
    line("Rollback: " + ("; ".join(f"{r['kind']} {r['outcome']}: {r.get('reason') or ''}"
                                  for r in rollback) or "none"))  # fmt: skip
    heading("Audit events and their chain links")
    table([["id", "at", "actor", "action", "hash / previous"]]
          + [[str(e["id"]), e["at"], e["actor"], e["action"],
              f"{_short(e.get('hash'))} / {_short(e.get('prev_hash'))}"]
             for e in evidence.get("audit_events", [])],
          [12, 42, 25, 40, 51])  # fmt: skip
    out = BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=f"Evidence of {wo['id']}",
                      leftMargin=15 * mm, rightMargin=15 * mm).build(story)  # fmt: skip
    return out.getvalue()
