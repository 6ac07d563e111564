"""The Notifications page's pieces: a user's choices, admins' channels and the outbox.

Built from ``Preference``, ``ChannelInfo`` and ``Delivery`` values: a channel arrives here
without its URL, so no table can show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from data.domain.notifications import CHOOSABLE, LABELS
from data.notifications import ChannelInfo, Delivery, Preference

MODE_TEXT = {"now": "as it happens", "digest": "in the daily digest", "off": "off"}
STATE_COLOURS = {
    "pending": "warning",
    "sending": "info",
    "digest": "secondary",
    "failed": "danger",
    "sent": "success",
    "digested": "success",
}
EVENT_OPTIONS = [{"label": LABELS[k], "value": k.value} for k in CHOOSABLE]


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"


def mode_options(default: str) -> list[dict[str, str]]:
    """The four choices, the default one saying what it means for this user."""
    return [
        {"label": f"default ({MODE_TEXT[default]})", "value": "default"},
        {"label": "as it happens", "value": "now"},
        {"label": "in the daily digest", "value": "digest"},
        {"label": "off", "value": "off"},
    ]


def preference_table(found: Sequence[Preference], defaults: dict[str, str]) -> dbc.Table:
    """One row per kind of event, with its choice; ``defaults``: kind -> the mode the
    user would have without a choice."""
    rows = [
        html.Tr(
            [
                html.Td(LABELS[p.kind]),
                html.Td(html.Code(p.kind.value, className="small")),
                html.Td(
                    dbc.Select(
                        id=ids.notify_pref(p.kind.value),
                        options=mode_options(defaults[p.kind.value]),
                        value=p.mode.value if p.chosen else "default",
                        size="sm",
                    )
                ),
            ],
            id={"type": "notify-pref-row", "kind": p.kind.value},
        )
        for p in found
    ]
    return dbc.Table(
        [html.Thead(html.Tr([html.Th("Event"), html.Th("Kind"), html.Th("How"), ])),
         html.Tbody(rows)],
        bordered=True,
        size="sm",
    )  # fmt: skip


def channel_table(channels: Sequence[ChannelInfo]) -> html.Div | dbc.Table:
    """Each channel with Test and Remove (asks first); never its URL."""
    if not channels:
        return html.P("No channel yet.", className="text-muted", id="notify-channels-none")
    rows = []
    for c in channels:
        events = ", ".join(c.events) if len(c.events) < len(CHOOSABLE) else "all events"
        rows.append(
            html.Tr(
                [
                    html.Td(c.name),
                    html.Td(c.scheme),
                    html.Td(events, className="small"),
                    html.Td(f"{c.created_by}, {c.created_at:%Y-%m-%d %H:%M}"),
                    html.Td(
                        [
                            dbc.Button(
                                "Test",
                                id=ids.notify_channel_test(c.name),
                                size="sm",
                                color="outline-primary",
                                className="me-1",
                            ),
                            dcc.ConfirmDialogProvider(
                                dbc.Button("Remove", size="sm", color="outline-danger"),
                                id=ids.notify_channel_remove(c.name),
                                message=f"Remove the channel {c.name}? What still waits for "
                                "it is marked failed. This cannot be undone.",
                            ),
                        ]
                    ),
                ],
                id={"type": "notify-channel-row", "channel": c.name},
            )
        )
    headers = ["Channel", "Kind", "Events", "Added", ""]
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(rows)],
        bordered=True,
        size="sm",
    )


def outbox_table(deliveries: Sequence[Delivery]) -> html.Div | dbc.Table:
    """What waits or failed: event, recipient, work order, tries, next try, last error."""
    if not deliveries:
        return html.P("Nothing waits and nothing failed.", className="text-muted",
                      id="notify-outbox-empty")  # fmt: skip
    rows = []
    for d in deliveries:
        waiting = d.state in ("pending", "sending")
        rows.append(
            html.Tr(
                [
                    html.Td(str(d.id)),
                    html.Td(LABELS.get(_kind(d.kind), d.kind)),
                    html.Td(d.recipient),
                    html.Td(d.to_json()["work_order"] or "-"),
                    html.Td(dbc.Badge(d.state, color=STATE_COLOURS.get(d.state, "light"))),
                    html.Td(str(d.attempts)),
                    html.Td(_when(d.next_attempt_at) if waiting else "-"),
                    html.Td(d.last_error, className="small text-break"),
                ],
                id={"type": "notify-outbox-row", "delivery": d.id},
            )
        )
    headers = ["#", "Event", "Recipient", "Work order", "State", "Tries", "Next try (UTC)",
               "Last error"]  # fmt: skip
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(rows)],
        bordered=True,
        size="sm",
    )


def _kind(value: str):
    from data.domain.notifications import EventKind

    try:
        return EventKind(value)
    except ValueError:
        return value
