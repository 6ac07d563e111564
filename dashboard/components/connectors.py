"""The connectors panel of the topology page and the "Add App Connector" dialog.

Forms are generated from each type's ConnectorSpec, so a plug-in type gets a
form without any UI code of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, tzinfo

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from dashboard.graph import last_push_line, verdict_counts, work_order_line
from dashboard.timezones import local_and_utc
from data.connectors import ConnectorInfo
from data.domain.connector_specs import ConnectorSpec
from data.domain.nodes import CONNECTOR_STATES, ConnectorView
from data.domain.profiles import Profile
from data.domain.windows import EXAMPLE as WINDOWS_EXAMPLE

TABLE_HEADERS = ("Connector", "Type", "State", "Endpoints", "Work order", "Last push", "", "")


def connector_field_id(name: str) -> dict[str, str]:
    return {"type": ids.CONNECTOR_FIELD, "name": name}


def _profile_option(profile: Profile) -> dict[str, str]:
    review = " (needs an admin's review)" if profile.needs_review else ""
    return {
        "label": f"{profile.name}: {profile.layout.value}, in {', '.join(profile.folders)}{review}",
        "value": profile.name,
    }


def connector_fields(spec: ConnectorSpec, profiles: Sequence[Profile] = ()) -> list:
    """Inputs for one type, with the spec's labels, placeholders and help. A device profile
    is chosen from those the administrator defined: commands are never typed here."""
    rows: list = [html.P(spec.description, className="small text-muted")]
    for f in spec.fields:
        if f.kind == "profile":
            control = dbc.Select(
                id=connector_field_id(f.name),
                options=[_profile_option(p) for p in profiles],
                value=profiles[0].name if profiles else None,
            )
            rows.append(
                html.Div(
                    [dbc.Label(f.label + " *", className="mb-0 small"), control,
                     dbc.FormText(f.help)],
                    className="mb-2",
                )
            )  # fmt: skip
            continue
        if f.kind == "bool":
            control = dbc.Checkbox(
                id=connector_field_id(f.name), label=f.label, value=bool(f.default)
            )
            rows.append(html.Div([control, dbc.FormText(f.help)], className="mb-2"))
            continue
        control = dbc.Input(
            id=connector_field_id(f.name),
            type="number" if f.kind == "int" else "text",
            placeholder=f.placeholder or (str(f.default) if f.default is not None else ""),
            value=f.default if f.kind == "int" else None,
        )
        label = f.label + (" *" if f.required else "")
        rows.append(
            html.Div(
                [dbc.Label(label, className="mb-0 small"), control, dbc.FormText(f.help)],
                className="mb-2",
            )
        )
    if spec.secret_kinds:
        rows.append(
            html.Div(
                [
                    dbc.Label("Credential *", className="mb-0 small"),
                    dbc.RadioItems(
                        id=ids.CONNECTOR_SECRET_KIND,
                        options=[
                            {"label": "SSH private key", "value": "private_key"},
                            {"label": "Password", "value": "password"},
                        ],
                        value=spec.secret_kinds[0],
                        inline=True,
                    ),
                    dbc.Textarea(
                        id=ids.CONNECTOR_SECRET,
                        placeholder="-----BEGIN OPENSSH PRIVATE KEY----- … (or the password)",
                        rows=3,
                        className="font-monospace small",
                    ),
                    dbc.FormText(
                        "Stored encrypted; it is never shown again after saving.",
                    ),
                ],
                className="mb-2",
            )
        )
    else:  # keep the ids present so the save callback's State always resolves
        rows.append(
            html.Div(
                [
                    dcc.Store(id=ids.CONNECTOR_SECRET_KIND, data=None),
                    dcc.Store(id=ids.CONNECTOR_SECRET, data=None),
                ],
                hidden=True,
            )
        )
    return rows


def connector_dialog(specs: Mapping[str, ConnectorSpec]) -> dbc.Modal:
    options = [{"label": s.label, "value": t} for t, s in specs.items()]
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Add App Connector")),
            dbc.ModalBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("Name *", className="mb-0 small"),
                                    dbc.Input(id=ids.CONNECTOR_NAME, placeholder="web-eu-1"),
                                ]
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Type", className="mb-0 small"),
                                    dbc.Select(
                                        id=ids.CONNECTOR_TYPE,
                                        options=options,
                                        value=options[0]["value"],
                                    ),
                                ]
                            ),
                        ],
                        className="mb-2",
                    ),
                    html.Div(id=ids.CONNECTOR_FIELDS),
                    dbc.Label("Endpoints (one per line: host:port [SNI name])", className="small"),
                    dbc.Textarea(
                        id=ids.CONNECTOR_ENDPOINTS,
                        placeholder="10.0.0.5:443 www.example.com\n[2001:db8::5]:8443",
                        rows=3,
                        className="font-monospace small",
                    ),
                    rollout_fields(),
                    html.Div(id=ids.CONNECTOR_TEST_RESULT, className="mt-2"),
                    html.Div(id=ids.CONNECTOR_ERRORS, className="mt-2"),
                    dcc.Store(id=ids.CONNECTOR_TASK),
                    dcc.Interval(
                        id=ids.CONNECTOR_TASK_POLL, interval=400, disabled=True, max_intervals=150
                    ),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Test connection", id=ids.CONNECTOR_TEST, color="secondary"),
                    dbc.Button("Save and bind", id=ids.CONNECTOR_SAVE, color="primary"),
                    dbc.Button("Cancel", id=ids.CONNECTOR_CANCEL, color="link"),
                ]
            ),
        ],
        id=ids.CONNECTOR_MODAL,
        size="lg",
        is_open=False,
        scrollable=True,
    )


def rollout_fields() -> html.Div:
    """How pushes through the connector roll out: its maintenance windows, automatic
    rollback and whether a rollout starts with it."""
    return html.Div(
        [
            dbc.Label(
                "Maintenance windows (one per line)",
                html_for=ids.CONNECTOR_WINDOWS,
                className="small mb-0",
            ),
            dbc.Textarea(
                id=ids.CONNECTOR_WINDOWS,
                placeholder=WINDOWS_EXAMPLE,
                rows=2,
                className="font-monospace small",
            ),
            dbc.FormText(
                f"Days, a time range and an IANA time zone, e.g. {WINDOWS_EXAMPLE}; days as "
                "Mon, Tue,Thu, Mon-Fri or daily; an end at or before the start runs past "
                "midnight. Pushes start only inside a window and must finish before it "
                "closes; empty: any time."
            ),
            dbc.Switch(
                id=ids.CONNECTOR_ROLLBACK,
                label="Roll back automatically on failed verification",
                value=True,
                className="mt-2",
            ),
            dbc.Switch(
                id=ids.CONNECTOR_CANARY,
                label="Canary: a rollout pushes through this connector first",
                value=False,
            ),
        ],
        className="mt-2",
    )


def test_result(result: Mapping) -> dbc.Alert:
    """What "Test connection" found, with the host key to accept when there is one."""
    parts: list = [html.Strong("Connection OK. " if result.get("ok") else "Connection failed. ")]
    parts.append(str(result.get("message", "")))
    fingerprint = result.get("host_key_fingerprint")
    if fingerprint:
        parts += [
            html.Br(),
            "Host key presented: ",
            html.Code(f"{result.get('host_key_type') or ''} {fingerprint}", id=ids.HOST_KEY_SEEN),
            dbc.Button(
                "Accept this host key",
                id=ids.HOST_KEY_ACCEPT,
                size="sm",
                color="warning",
                className="ms-2",
            ),
            dcc.Store(id=ids.HOST_KEY_VALUE, data=fingerprint),
        ]
    return dbc.Alert(parts, color="success" if result.get("ok") else "danger")


def config_errors(errors: Mapping[str, str]) -> dbc.Alert:
    return dbc.Alert(
        [
            html.Strong("Please correct: "),
            html.Ul([html.Li(f"{k}: {v}") for k, v in errors.items()]),
        ],
        color="danger",
        id=ids.CONNECTOR_ERROR_LIST,
    )


def work_order_cell(view: ConnectorView, zone: tzinfo = UTC) -> html.Td:
    """The newest work order beside the connector, with its push time when scheduled."""
    line = work_order_line(view)
    if not line:
        return html.Td("—", className="text-muted")
    parts: list = [html.Span(line, className="workorder-label")]
    if view.run_at is not None:
        parts += [html.Br(), html.Small(f"push at {local_and_utc(view.run_at, zone)}")]
    if view.work_order_reason:
        parts += [html.Br(), html.Small(view.work_order_reason, className="text-danger")]
    return html.Td(parts, className="workorder-cell")


def last_push_cell(view: ConnectorView, zone: tzinfo = UTC) -> html.Td:
    """The last push of the certificate here and its verdict, e.g. "WO-000123 · Completed ·
    Verified 2026-03-01 12:04 UTC", with the deciding sweep's counts or the failure."""
    push = view.last_push
    if push is None:
        return html.Td("—", className="text-muted")
    parts: list = [html.Span(last_push_line(push, zone), className="verdict-label")]
    counts = verdict_counts(push)
    if counts:
        parts += [html.Br(), html.Small(counts, className="text-muted")]
    if push.reason:
        parts += [html.Br(), html.Small(push.reason, className="text-danger")]
    return html.Td(parts, className="verdict-cell", **{"data-verdict": push.state.value})


def connectors_panel(
    views: Sequence[ConnectorView],
    others: Sequence[ConnectorInfo],
    can_manage: bool,
    *,
    can_request: bool = True,
    zone: tzinfo = UTC,
) -> html.Div:
    """Bound connectors with their work orders, Push to Device when there is one, and the
    ways to add one."""
    children: list = []
    if not views:
        children.append(
            dbc.Alert(
                [
                    html.Strong("No app connector is bound to this certificate. "),
                    "Push to Device becomes available once an app connector is added to the "
                    "certificate.",
                ],
                color="info",
                id="topology-no-connector",
            )
        )
    else:
        rows = [
            html.Tr(
                [
                    html.Td(v.name),
                    html.Td(v.type),
                    html.Td(CONNECTOR_STATES[v.state].label, title=v.detail),
                    html.Td(f"{len(v.endpoints):,}"),
                    work_order_cell(v, zone),
                    last_push_cell(v, zone),
                    html.Td(
                        dbc.Button(
                            "Edit endpoints",
                            id={"type": ids.ENDPOINTS_EDIT, "name": v.name},
                            size="sm",
                            color="link",
                            disabled=not can_manage,
                        )
                    ),
                    html.Td(
                        dbc.Button(
                            "Unbind",
                            id={"type": ids.CONNECTOR_UNBIND, "name": v.name},
                            size="sm",
                            color="link",
                            disabled=not can_manage,
                        )
                    ),
                ]
            )
            for v in views
        ]
        children.append(
            dbc.Table(
                [
                    html.Thead(html.Tr([html.Th(h) for h in TABLE_HEADERS])),
                    html.Tbody(rows),
                ],
                size="sm",
                id=ids.CONNECTOR_TABLE,
            )
        )
        children.append(
            dbc.Button(
                "Push to Device",
                id=ids.PUSH_TO_DEVICE,
                color="success",
                className="me-2",
                disabled=not can_request,
                title=None if can_request else "Only operators and admins request pushes.",
            )
        )
    actions: list = [
        dbc.Button(
            "Add App Connector",
            id=ids.ADD_CONNECTOR_BTN,
            color="primary",
            className="me-2",
            disabled=not can_manage,
        )
    ]
    actions.append(
        dbc.InputGroup(
            [
                dbc.Select(
                    id=ids.BIND_EXISTING_SELECT,
                    options=[{"label": f"{o.name} ({o.type})", "value": o.name} for o in others],
                    placeholder="Bind an existing connector…"
                    if others
                    else "No other connector exists yet",
                    disabled=not others,
                ),
                dbc.Button(
                    "Bind",
                    id=ids.BIND_EXISTING_BTN,
                    color="secondary",
                    disabled=not (can_manage and others),
                ),
            ],
            style={"maxWidth": "28rem"},
            className="d-inline-flex align-middle",
        )
    )
    children.append(html.Div(actions, className="mt-2"))
    children.append(html.Div(id=ids.CONNECTOR_PANEL_MESSAGE, className="mt-2"))
    return html.Div(children)


def endpoints_dialog() -> dbc.Modal:
    """Editing where a connector's device serves the certificate."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Edit endpoints")),
            dbc.ModalBody(
                [
                    dbc.Label("One per line: host:port [SNI name]; IPv6 as [::1]:443"),
                    dbc.Textarea(id=ids.ENDPOINTS_TEXT, rows=10, className="font-monospace small"),
                    dcc.Store(id=ids.ENDPOINTS_CONNECTOR),
                    html.Div(id=ids.ENDPOINTS_ERRORS, className="mt-2"),
                ]
            ),
            dbc.ModalFooter(dbc.Button("Save endpoints", id=ids.ENDPOINTS_SAVE, color="primary")),
        ],
        id=ids.ENDPOINTS_MODAL,
        is_open=False,
    )
