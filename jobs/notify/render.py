"""What a notification says: subject, plain text, HTML and a webhook's JSON, from one
event's payload (data/notifications.py's payload contract). Pure: no I/O.

Every message answers what happened, to which certificate (common name and fingerprint),
on which connector and work order, by whom and when, and links to the page of the next
step (``CERTPUSH_BASE_URL`` + the payload's ``path``). Values come from certificates,
comments and names that anyone importing a certificate or writing a comment controls:
the HTML escapes each one, header values (the subject) lose their control characters so
no header can be forged, and the plain text keeps values on their own lines.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from data.domain.notifications import LABELS, EventKind

PRODUCT = "certpush"
SUBJECT_LIMIT = 180
VALUE_LIMIT = 1000
_SETTINGS_NOTE = "choose what reaches you, and how, in your notification settings."
REPORT_FORMATS = ("pdf", "xlsx", "csv")  # linked in this order; the first two are attached
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_KEEP_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Rendered:
    """One message, ready for a mail or a channel."""

    subject: str  # one line, no control characters (an e-mail Subject, a channel title)
    text: str
    html: str
    link: str  # where the reader takes the next step


@dataclass(frozen=True)
class _Row:
    label: str
    value: str
    mono: bool = False  # fingerprints: shown in a fixed-width font


# ------------------------------------------------------------------------------ helpers


def header_safe(value: Any, limit: int = SUBJECT_LIMIT) -> str:
    """A value fit for a header: control characters (CR, LF, NUL...) become spaces, runs
    of spaces collapse, and it is cut at ``limit`` with an ellipsis."""
    text = re.sub(r"\s+", " ", _CONTROL.sub(" ", str(value if value is not None else ""))).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _line(value: Any, limit: int = 200) -> str:
    """A one-line value for the body."""
    return header_safe(value, limit)


def _paragraph(value: Any) -> str:
    """A comment or reason: its own line breaks kept, other controls dropped."""
    text = _CONTROL_KEEP_NEWLINE.sub(" ", str(value or "")).replace("\r", "").strip()
    return text[:VALUE_LIMIT]


def link_for(base_url: str, path: Any) -> str:
    """``base_url`` + the payload's path (always under the base: a path never names
    another host or scheme)."""
    text = str(path or "/")
    if not text.startswith("/"):
        text = "/" + text
    return base_url.rstrip("/") + quote(_line(text, 500), safe="/-_.~%:=&?#")


def report_links(base_url: str, report_id: Any, files: Mapping[str, Any] | None) -> dict[str, str]:
    """The download address of each file of a weekly report (the REST API's route)."""
    formats = [f for f in REPORT_FORMATS if not files or f in files]
    return {
        fmt: f"{base_url.rstrip('/')}/api/v1/reports/weekly/{quote(str(report_id))}/{fmt}"
        for fmt in formats
    }


def when(value: Any) -> str:
    """An ISO time as ``2026-06-01 12:00 UTC`` (readers compare with other mails)."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return _line(value, 40)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cert(payload: Mapping[str, Any]) -> tuple[str, str]:
    cert = payload.get("certificate")
    if isinstance(cert, Mapping):
        return _line(cert.get("common_name") or "(no common name)"), _line(
            cert.get("fingerprint") or "", 100
        )
    return (_line(cert) if cert else "", "")


def _connector(payload: Mapping[str, Any]) -> tuple[str, str]:
    connector = payload.get("connector")
    if isinstance(connector, Mapping):
        return _line(connector.get("name") or ""), _line(connector.get("zone") or "")
    return (_line(connector) if connector else "", "")


def label(kind: str) -> str:
    try:
        return LABELS[EventKind(kind)]
    except ValueError:
        return _line(kind.replace("_", " ").capitalize())


# ------------------------------------------------------------------------------ content


def _work_order_rows(payload: Mapping[str, Any]) -> list[_Row]:
    cn, fingerprint = _cert(payload)
    connector, zone = _connector(payload)
    cert = payload.get("certificate") if isinstance(payload.get("certificate"), Mapping) else {}
    rows = [
        _Row("Work order", _line(payload.get("work_order"))),
        _Row("Request", _line(payload.get("request"))),
        _Row("Status", _line(payload.get("status"))),
        _Row("Certificate", cn),
        _Row("Fingerprint", fingerprint, mono=True),
        _Row("Expires", when(cert.get("not_after"))),
        _Row("Connector", f"{connector} (zone {zone})" if zone else connector),
        _Row("Requested by", _line(payload.get("requester"))),
        _Row("Request comment", _paragraph(payload.get("request_comment"))),
    ]
    if payload.get("level"):
        rows.append(_Row("Level waiting", _line(payload.get("level"))))
    if payload.get("run_at"):
        rows.append(_Row("Runs at", when(payload.get("run_at"))))
    action = _line(payload.get("action"))
    by = _line(payload.get("actor"))
    rows.append(_Row("By", f"{by} ({action})" if by and action else by))
    rows.append(_Row("When", when(payload.get("at"))))
    rows.append(_Row("Comment", _paragraph(payload.get("comment"))))
    rows.append(_Row("Reason", _paragraph(payload.get("reason"))))
    return rows


def _event_rows(payload: Mapping[str, Any]) -> list[_Row]:
    """Certificate, connector, who and when for the events that are not work orders."""
    cn, fingerprint = _cert(payload)
    connector, zone = _connector(payload)
    rows = [_Row("Certificate", cn), _Row("Fingerprint", fingerprint, mono=True)]
    if connector:
        rows.append(_Row("Connector", f"{connector} (zone {zone})" if zone else connector))
    return rows


def _content(
    kind: str, payload: Mapping[str, Any], base_url: str, attached: Sequence[str]
) -> tuple[str, str, list[_Row], list[dict[str, str]], str]:
    """(subject without the product prefix, lead sentence, facts, table rows, link label)."""
    what = label(kind)
    wo = _line(payload.get("work_order"))
    cn, _fingerprint = _cert(payload)
    connector, _zone = _connector(payload)
    table: list[dict[str, str]] = []
    if kind == EventKind.APPROVAL_NEEDED and wo:
        level = _line(payload.get("level"))
        lead = (
            f"{wo} waits for your decision{f' ({level})' if level else ''}: push {cn} "
            f"to {connector}, requested by {_line(payload.get('requester'))}."
        )
        return (f"{what}: {wo} {cn} on {connector}", lead, _work_order_rows(payload), table,
                "Open the topology to decide")  # fmt: skip
    if wo:
        status = _line(payload.get("status")) or what
        lead = f"{wo} (push of {cn} to {connector}) is now {status}."
        if kind == EventKind.IMPLEMENTED:
            lead = f"{wo} (push of {cn} to {connector}) was implemented: the push starts now."
        elif kind == EventKind.SCHEDULED:
            run_at = when(payload.get("run_at"))
            lead = f"{wo} (push of {cn} to {connector}) is scheduled for {run_at}."
        return (f"{what}: {wo} {cn} on {connector}", lead, _work_order_rows(payload), table,
                "Open the topology")  # fmt: skip
    rows = _event_rows(payload)
    if kind == EventKind.EXPIRY_ALERT:
        colour = _line(payload.get("colour")).capitalize()
        days = _line(payload.get("days_left"))
        serving = ", ".join(_line(c) for c in payload.get("connectors") or []) or "none"
        lead = f"{cn} turned {colour}: {days} days left. Connectors serving it: {serving}."
        rows += [_Row("Colour", colour), _Row("Days left", days), _Row("Connectors", serving)]
        subject = f"Certificate turned {colour}: {cn} ({days} days left)"
    elif kind == EventKind.DRIFT_DETECTED:
        endpoint = _line(payload.get("endpoint"))
        served = _line(payload.get("served_fingerprint"), 100)
        lead = f"{endpoint} on {connector} does not serve {cn}: it serves another certificate."
        rows += [_Row("Endpoint", endpoint), _Row("Served fingerprint", served, mono=True)]
        subject = f"{what}: {endpoint} on {connector} ({cn})"
    elif kind in (EventKind.AGENT_OFFLINE, EventKind.ZONE_OFFLINE):
        zone = _line(payload.get("zone"))
        agent = _line(payload.get("agent"))
        if kind == EventKind.AGENT_OFFLINE:
            lead = f"Agent {agent} of zone {zone} stopped answering."
            subject = f"{what}: {agent} (zone {zone})"
        else:
            lead = f"Zone {zone} has no agent answering: its pushes and checks wait."
            subject = f"{what}: {zone}"
        rows = [_Row("Zone", zone), _Row("Agent", agent)]
    elif kind == EventKind.WEEKLY_REPORT:
        period = payload.get("period") if isinstance(payload.get("period"), Mapping) else {}
        period_label = _line(period.get("label"))
        lead = f"The Push Validation Report for {period_label} is ready."
        links = report_links(base_url, payload.get("report_id"), payload.get("files"))
        rows = [
            _Row("Period", f"{_line(period.get('start'))} to {_line(period.get('end'))}"),
            _Row("Time zone", _line(period.get("time_zone"))),
            _Row("Attached", ", ".join(_line(a) for a in attached)),
        ]
        rows += [_Row(f"{fmt.upper()} download", url) for fmt, url in links.items()]
        if not attached:
            lead += (
                " The files are not attached (larger than the mail size limit, or missing):"
                " download them from the links below."
            )
        subject = f"{what}: {period_label}"
    elif kind == EventKind.EXPIRY_DIGEST:
        items = [i for i in payload.get("certificates") or [] if isinstance(i, Mapping)]
        lead = (
            f"{len(items)} certificate(s) bound to connectors are Orange, Yellow or Red."
            if items
            else "No certificate bound to a connector is Orange, Yellow or Red."
        )
        for item in items:
            table.append({
                "Certificate": _line(item.get("common_name")),
                "Fingerprint": _line(item.get("fingerprint"), 100),
                "Colour": _line(item.get("colour")).capitalize(),
                "Expires": when(item.get("not_after")),
                "Days left": _line(item.get("days_left")),
                "Connectors": ", ".join(_line(c) for c in item.get("connectors") or []),
                "Link": link_for(base_url, item.get("path")),
            })  # fmt: skip
        rows = []
        subject = f"{what}: {len(items)} certificate(s) Orange, Yellow or Red"
    elif kind == EventKind.DIGEST:
        items = [i for i in payload.get("items") or [] if isinstance(i, Mapping)]
        lead = f"{len(items)} event(s) since your last digest."
        for item in items:
            item_cn, item_fp = _cert(item)
            item_connector, _ = _connector(item)
            table.append({
                "When": when(item.get("at")),
                "What": _line(item.get("title") or label(str(item.get("event") or ""))),
                "Work order": _line(item.get("work_order")),
                "Certificate": item_cn,
                "Fingerprint": item_fp,
                "Connector": item_connector,
                "Link": link_for(base_url, item.get("path")),
            })  # fmt: skip
        rows = []
        subject = f"{what}: {len(items)} event(s)"
    else:
        lead = f"{what}: {cn}." if cn else f"{what}."
        subject = f"{what}: {cn}" if cn else what
    if payload.get("actor"):
        rows.append(_Row("By", _line(payload.get("actor"))))
    rows.append(_Row("When", when(payload.get("at"))))
    return subject, lead, rows, table, "Open in certpush"


# ------------------------------------------------------------------------------ output


def render(
    kind: str, payload: Mapping[str, Any], base_url: str, *, attached: Sequence[str] = ()
) -> Rendered:
    """The message of one event. ``attached``: the names of files that travel with it
    (the weekly report), so the text says attached rather than only linked."""
    subject, lead, rows, table, link_label = _content(kind, payload, base_url, attached)
    link = link_for(base_url, payload.get("path"))
    rows = [r for r in rows if r.value]
    subject = header_safe(f"[{PRODUCT}] {subject}")
    return Rendered(
        subject=subject,
        text=_text(lead, rows, table, link_label, link),
        html=_html(subject, lead, rows, table, link_label, link),
        link=link,
    )


def _text(lead: str, rows: list[_Row], table: list[dict[str, str]], link_label: str,
          link: str) -> str:  # fmt: skip
    width = max((len(r.label) for r in rows), default=0) + 2
    lines = [lead, ""]
    for row in rows:
        value = row.value.replace("\n", "\n" + " " * (width + 2))
        lines.append(f"  {row.label + ':':{width}}{value}")
    for item in table:
        lines.append("")
        for key, value in item.items():
            if value:
                lines.append(f"  {key + ':':14}{value}")
    lines += ["", f"{link_label}: {link}", "", "-- ", f"{PRODUCT}: {_SETTINGS_NOTE}"]
    return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return html.escape(value, quote=True).replace("\n", "<br>")


def _html(subject: str, lead: str, rows: list[_Row], table: list[dict[str, str]],
          link_label: str, link: str) -> str:  # fmt: skip
    cells = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0;vertical-align:top">'
        f"{_esc(r.label)}</th><td"
        + (' style="font-family:monospace"' if r.mono else "")
        + f">{_esc(r.value)}</td></tr>"
        for r in rows
    )
    listing = ""
    if table:
        heads = [k for k in table[0] if k != "Link"]
        listing = (
            '<table style="border-collapse:collapse" border="1" cellpadding="4"><tr>'
            + "".join(f"<th>{_esc(h)}</th>" for h in heads)
            + "</tr>"
            + "".join(
                "<tr>"
                + "".join(
                    f'<td><a href="{_esc(item["Link"])}">{_esc(item[h])}</a></td>'
                    if h == "Certificate" and item.get("Link")
                    else f"<td>{_esc(item[h])}</td>"
                    for h in heads
                )
                + "</tr>"
                for item in table
            )
            + "</table>"
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_esc(subject)}</title></head>"
        '<body style="font-family:sans-serif">'
        f"<p>{_esc(lead)}</p>"
        f"<table>{cells}</table>{listing}"
        f'<p><a href="{_esc(link)}">{_esc(link_label)}</a></p>'
        f'<p style="color:#666;font-size:small">{PRODUCT}: {_SETTINGS_NOTE}</p></body></html>'
    )


# The payload's fields a webhook receives (nested objects keep only their listed fields):
# whatever else a payload may hold one day does not leave by accident.
_PROJECTION: dict[str, Any] = {
    "event": None, "at": None, "actor": None, "action": None, "work_order": None,
    "request": None, "requester": None, "status": None, "run_at": None, "reason": None,
    "comment": None, "request_comment": None, "level": None,
    "certificate": {"common_name": None, "fingerprint": None, "not_after": None},
    "connector": {"name": None, "zone": None},
    "endpoint": None, "served_fingerprint": None, "colour": None, "days_left": None,
    "connectors": None, "zone": None, "agent": None, "report_id": None,
    "period": {"label": None, "start": None, "end": None, "time_zone": None},
    "files": {"csv": None, "xlsx": None, "pdf": None},
    "certificates": {"common_name": None, "fingerprint": None, "colour": None,
                     "not_after": None, "days_left": None, "connectors": None, "path": None},
    "items": {"event": None, "title": None, "work_order": None, "certificate": None,
              "connector": None, "at": None, "path": None},
}  # fmt: skip


def _project(value: Any, shape: Any) -> Any:
    if isinstance(value, Mapping):
        if not isinstance(shape, Mapping):  # a digest item's certificate or connector
            shape = _PROJECTION["certificate" if "common_name" in value else "connector"]
        return {k: _project(value[k], shape[k]) for k in shape if k in value}
    if isinstance(value, list):
        return [_project(v, shape) for v in value[:500]]
    if isinstance(value, str):
        return _paragraph(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return _line(value)


def webhook_body(
    kind: str, payload: Mapping[str, Any], base_url: str, *, attached: Sequence[str] = ()
) -> str:
    """A JSON webhook's message: the event's safe fields plus ``title`` and an absolute
    ``link`` (and each item's link in a digest; each file's link for the weekly report)."""
    message = render(kind, payload, base_url, attached=attached)
    body = _project(payload, _PROJECTION)
    body["event"] = kind
    body["title"] = message.subject
    body["link"] = message.link
    for key in ("certificates", "items"):
        for item, original in zip(body.get(key) or [], payload.get(key) or [], strict=False):
            if isinstance(item, dict) and isinstance(original, Mapping):
                item["link"] = link_for(base_url, original.get("path"))
    if kind == EventKind.WEEKLY_REPORT:
        body["downloads"] = report_links(base_url, payload.get("report_id"), payload.get("files"))
    return json.dumps(body, ensure_ascii=False, sort_keys=True)
