"""A work order's pinned push plan and its preflight results, as the approvers see them.

The plan is the JSON dict ``certpush workorders show WO --json`` prints under "plan":
the certificate, the target, the files and their modes, the exact commands and the
endpoints, pinned by a digest when the work order was made, and what the scheduler's
preflight found. The Approve and Implement dialogs show it so that both people see
exactly what will run before they click.

Plans made by older versions lack keys, so every value is read with ``.get`` and
anything of the wrong shape is left out. Every value is a string child (text, never
HTML or markdown): a common name or a path can hold anything.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids
from dashboard.timezones import local_and_utc

NO_PLAN = "No push plan recorded for this work order (made before plans existed)."
RUNNING = "Preflight checks are running in the scheduler…"
BLOCKED = "Blocked: approval and implementation are refused until this is fixed."
NEEDS_REVIEW = "profile needs an admin's review"
NOT_CHECKED = "not checked yet"
NO_SHELL = "Each command runs without a shell: shown shell-quoted here for reading only."
SHORT = 12  # hex digits of a digest or fingerprint shown; the full value is in the tooltip
MAX_ENDPOINTS = 25  # a plan can name 10,000 endpoints; a dialog shows the first ones


@dataclass(frozen=True)
class CheckStyle:
    """How one preflight status is drawn: the badge's colour and its className suffix."""

    colour: str
    key: str


PREFLIGHT_STYLES: dict[str, CheckStyle] = {
    "ok": CheckStyle("success", "ok"),
    "warning": CheckStyle("warning", "warning"),
    "blocker": CheckStyle("danger", "blocker"),
    "pending": CheckStyle("secondary", "pending"),
}
# A status this version does not know (a newer scheduler's) is shown by name, in grey.
UNKNOWN_STYLE = CheckStyle("secondary", "unknown")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _short(value: Any) -> str:
    text = _text(value)
    return text if len(text) <= SHORT else text[:SHORT] + "…"


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 time from the plan as an aware datetime (UTC when it has no offset)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(value: Any, zone: tzinfo) -> str:
    """The time in the viewer's zone and in UTC; an unreadable value as it was written."""
    moment = _moment(value)
    return local_and_utc(moment, zone) if moment else _text(value)


def _day(value: Any, zone: tzinfo) -> str:
    moment = _moment(value)
    return f"{moment.astimezone(zone):%Y-%m-%d}" if moment else _text(value)


def _status_badge(status: Any) -> dbc.Badge:
    style = PREFLIGHT_STYLES.get(_text(status), UNKNOWN_STYLE)
    return dbc.Badge(
        _text(status) or "unknown",
        color=style.colour,
        className=f"me-2 preflight-badge preflight-badge-{style.key}",
    )


def _section(title: str, body: list, class_name: str) -> html.Div:
    return html.Div(
        [html.Div(title, className="plan-section-title"), *body],
        className=f"{class_name} mb-2",
    )


def _header(plan: Mapping[str, Any], zone: tzinfo) -> html.Div:
    """ "Push plan 3f2a…  nginx (fullchain, built-in)", made when, and what needs a look."""
    digest = _text(plan.get("digest"))
    profile = _mapping(plan.get("profile"))
    parts: list = [html.Strong("Push plan", className="me-2")]
    if digest:
        parts.append(html.Code(_short(digest), title=digest, className="plan-digest me-2"))
    name = _text(profile.get("name"))
    details = ", ".join(_text(profile.get(key)) for key in ("layout", "source") if profile.get(key))
    if name or details:
        label = f"profile {name}" if name else "profile"
        parts.append(
            html.Span(f"{label} ({details})" if details else label, className="plan-profile me-2")
        )
    if profile.get("needs_review"):
        parts.append(dbc.Badge(NEEDS_REVIEW, color="warning", className="me-2 plan-review-badge"))
    if plan.get("emergency"):
        parts.append(dbc.Badge("emergency push", color="danger", className="me-2 plan-emergency"))
    lines = [html.Div(parts)]
    if plan.get("created_at"):
        lines.append(
            html.Div(f"pinned {_when(plan.get('created_at'), zone)}", className="text-muted")
        )
    return html.Div(lines, className="plan-header mb-2")


def target_text(target: Mapping[str, Any]) -> str:
    """ "deploy@10.0.0.5:22, host key SHA256:…", or "this host (local)"."""
    if target.get("local"):
        return "this host (local)"
    host = _text(target.get("host"))
    if not host:
        return ", ".join(f"{key}: {value}" for key, value in target.items()) or "no target recorded"
    address = f"[{host}]" if ":" in host else host
    if target.get("port") not in (None, ""):
        address += f":{target.get('port')}"
    if target.get("username"):
        address = f"{target.get('username')}@{address}"
    if target.get("host_key"):
        address += f", host key {target.get('host_key')}"
    return address


def _certificate_line(certificate: Mapping[str, Any], zone: tzinfo) -> html.Div | None:
    if not certificate:
        return None
    fingerprint = _text(certificate.get("fingerprint"))
    parts: list = ["Certificate: ", html.Strong(_text(certificate.get("common_name")) or "—")]
    if fingerprint:
        parts += [" ", html.Code(_short(fingerprint), title=fingerprint)]
    if certificate.get("not_after"):
        parts.append(f", expires {_when(certificate.get('not_after'), zone)}")
    chain = _items(certificate.get("chain"))
    if chain:
        parts.append(f", {len(chain)} chain certificate{'s' if len(chain) != 1 else ''}")
    return html.Div(parts, className="plan-certificate text-break")


def _target(plan: Mapping[str, Any], zone: tzinfo) -> html.Div:
    connector = _mapping(plan.get("connector"))
    name = _text(connector.get("name")) or "—"
    kind = _text(connector.get("type"))
    lines: list = [
        html.Div(
            [
                html.Strong(name),
                f" ({kind})" if kind else "",
                ": ",
                html.Span(
                    target_text(_mapping(connector.get("target"))), className="plan-target-address"
                ),
            ],
            className="text-break",
        )
    ]
    certificate = _certificate_line(_mapping(plan.get("certificate")), zone)
    if certificate is not None:
        lines.append(certificate)
    return _section("Target", lines, "plan-target")


def _table(head: Sequence[str], rows: list[html.Tr]) -> dbc.Table:
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
        size="sm",
        bordered=False,
        className="mb-1",
    )


def _files(plan: Mapping[str, Any]) -> html.Div:
    files = [_mapping(f) for f in _items(plan.get("files"))]
    if not files:
        return _section(
            "Files", [html.Div("no files recorded", className="text-muted")], "plan-files"
        )
    rows = [
        html.Tr(
            [
                html.Td(html.Code(_text(f.get("path"))), className="text-break"),
                html.Td(html.Code(_text(f.get("mode")))),
                html.Td(_text(f.get("contents")) or ", ".join(map(str, _items(f.get("parts"))))),
            ]
        )
        for f in files
    ]
    return _section("Files", [_table(["path", "mode", "contents"], rows)], "plan-files")


def command_text(argv: Any) -> str | None:
    """The argument list shell-quoted for reading, or None when there is no command.

    Only for display: the command runs as this list, without a shell.
    """
    if isinstance(argv, list | tuple):
        return shlex.join(str(arg) for arg in argv) if argv else None
    return _text(argv) or None


def _commands(plan: Mapping[str, Any]) -> html.Div:
    commands = _mapping(plan.get("commands"))
    lines: list = []
    for key in ("test", "reload"):
        text = command_text(commands.get(key))
        if text is None:
            lines.append(html.Div(f"no {key} command", className=f"plan-command-{key} text-muted"))
        else:
            lines.append(
                html.Div(
                    [
                        html.Span(f"{key}: ", className="me-1"),
                        html.Code(text, className="plan-argv"),
                    ],
                    className=f"plan-command-{key}",
                )
            )
    lines.append(html.Div(NO_SHELL, className="text-muted fst-italic"))
    return _section("Commands", lines, "plan-commands")


def endpoint_text(endpoint: Mapping[str, Any]) -> str:
    """ "10.0.0.5:443 (SNI www.example.com)"; the SNI only when it differs from the host."""
    host = _text(endpoint.get("host"))
    text = f"[{host}]" if ":" in host else host
    if endpoint.get("port") not in (None, ""):
        text += f":{endpoint.get('port')}"
    sni = _text(endpoint.get("sni"))
    if sni and sni != host:
        text += f" (SNI {sni})"
    return text


def _endpoint_key(endpoint: Mapping[str, Any]) -> tuple[str, str, str]:
    return (
        _text(endpoint.get("host")).lower(),
        _text(endpoint.get("port")),
        _text(endpoint.get("sni")).lower(),
    )


def _results(preflight: Mapping[str, Any]) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    return {
        _endpoint_key(found): found
        for found in (_mapping(e) for e in _items(preflight.get("endpoints")))
    }


def _now_cell(result: Mapping[str, Any] | None, zone: tzinfo) -> html.Td:
    """What the endpoint serves today: the certificate, or why nothing answered."""
    if result is None:
        return html.Td(NOT_CHECKED, className="text-muted")
    now = _mapping(result.get("now"))
    fingerprint = _text(now.get("fingerprint"))
    if not fingerprint:
        outcome = _text(now.get("outcome")) or "no answer"
        reason = _text(now.get("reason"))
        return html.Td(f"{outcome}: {reason}" if reason else outcome, className="text-danger")
    parts: list = [html.Code(_short(fingerprint), title=fingerprint)]
    if now.get("subject"):
        parts.append(f" {now.get('subject')}")
    if now.get("not_after"):
        parts.append(f", until {_day(now.get('not_after'), zone)}")
    return html.Td(parts, className="text-break")


def _after_cell(result: Mapping[str, Any] | None, certificate: Mapping[str, Any]) -> html.Td:
    """The certificate the endpoint should serve after the push: the preflight's, else the
    plan's own."""
    pushed = _text(certificate.get("fingerprint"))
    fingerprint = _text((result or {}).get("after")) or pushed
    if not fingerprint:
        return html.Td("—", className="text-muted")
    parts: list = [html.Code(_short(fingerprint), title=fingerprint)]
    if fingerprint == pushed and certificate.get("common_name"):
        parts.append(f" CN={certificate.get('common_name')}")
    return html.Td(parts, className="text-break")


def _endpoints(plan: Mapping[str, Any], zone: tzinfo) -> html.Div:
    preflight = _mapping(plan.get("preflight"))
    results = _results(preflight)
    endpoints = [_mapping(e) for e in _items(plan.get("endpoints"))]
    if not endpoints:
        endpoints = list(results.values())
    if not endpoints:
        body: list = [html.Div("no endpoints recorded", className="text-muted")]
        return _section("Endpoints", body, "plan-endpoints")
    certificate = _mapping(plan.get("certificate"))
    rows = []
    for endpoint in endpoints[:MAX_ENDPOINTS]:
        result = results.get(_endpoint_key(endpoint))
        rows.append(
            html.Tr(
                [
                    html.Td(endpoint_text(endpoint), className="text-break"),
                    _now_cell(result, zone),
                    _after_cell(result, certificate),
                ],
                className="plan-endpoint",
            )
        )
    body = [_table(["endpoint", "serves now", "after the push"], rows)]
    more = len(endpoints) - MAX_ENDPOINTS
    if more > 0:
        noun = "endpoint" if more == 1 else "endpoints"
        body.append(
            html.Div(f"… and {more} more {noun}", className="plan-endpoints-more text-muted")
        )
    return _section(f"Endpoints ({len(endpoints)})", body, "plan-endpoints")


def _check_row(check: Mapping[str, Any]) -> html.Li:
    name = _text(check.get("name"))
    style = PREFLIGHT_STYLES.get(_text(check.get("status")), UNKNOWN_STYLE)
    return html.Li(
        [
            _status_badge(check.get("status")),
            html.Strong(name, className="me-2"),
            html.Span(_text(check.get("message")), className="text-break"),
        ],
        className=f"preflight-check preflight-{style.key} mb-1",
        **{"data-check": name},
    )


def is_blocked(preflight: Mapping[str, Any]) -> bool:
    """Whether the preflight refuses approval and implementation: overall or in any check."""
    checks = (_mapping(c) for c in _items(preflight.get("checks")))
    return preflight.get("status") == "blocker" or any(c.get("status") == "blocker" for c in checks)


def _preflight(plan: Mapping[str, Any], zone: tzinfo) -> html.Div:
    preflight = _mapping(plan.get("preflight"))
    status = _text(preflight.get("status"))
    head: list = []
    if status and status != "pending":
        head.append(_status_badge(status))
    if preflight.get("at"):
        head.append(
            html.Span(f"checked {_when(preflight.get('at'), zone)}", className="text-muted")
        )
    body: list = [html.Div(head, className="plan-preflight-status mb-1")] if head else []
    if not preflight or status == "pending":
        body.append(html.Div(RUNNING, className="plan-preflight-running text-muted"))
    if is_blocked(preflight):
        body.append(html.Div(BLOCKED, className="plan-blocked text-danger fw-bold mb-1"))
    checks = [_check_row(_mapping(c)) for c in _items(preflight.get("checks"))]
    if checks:
        body.append(html.Ul(checks, className="list-unstyled mb-0"))
    return _section("Preflight", body, "plan-preflight")


def plan_panel(plan: Mapping[str, Any] | None, zone: tzinfo, *, with_id: bool = True) -> html.Div:
    """Everything the push will do, pinned, and what the preflight found, for the dialogs.

    The preflight comes right after the header: a blocker is the first thing an approver
    must see, before a long table of files and endpoints. ``with_id=False`` when several
    panels share one ``push-plan`` container (``plans_panel``).
    """
    extra = {"id": ids.PUSH_PLAN} if with_id else {}
    if not isinstance(plan, Mapping) or not plan:
        return html.Div(
            html.Span(NO_PLAN, className="text-muted"),
            className="push-plan push-plan-none",
            **extra,
        )
    return html.Div(
        [
            _header(plan, zone),
            _preflight(plan, zone),
            _target(plan, zone),
            _files(plan),
            _commands(plan),
            _endpoints(plan, zone),
        ],
        className="push-plan",
        **extra,
    )


def plans_panel(plans: Sequence[tuple[str, Mapping[str, Any] | None]], zone: tzinfo) -> html.Div:
    """The plans of several work orders (one dialog acts on each), in one ``push-plan``."""
    return html.Div(
        [
            html.Div(
                [html.H6(label, className="mt-2 mb-1"), plan_panel(plan, zone, with_id=False)],
                className="plan-of-work-order",
            )
            for label, plan in plans
        ],
        id=ids.PUSH_PLAN,
    )
