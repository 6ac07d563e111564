"""Notifications: each user's e-mail address and how each kind of event reaches them;
admins' channels (Slack, Teams, webhooks) and the outbox.

The same services as ``certpush notify`` (data/notifications.py). Every callback takes
the user from the server-side session and checks the role itself; the admin section is
only revealed to admins, and its callbacks refuse anyone else.
"""

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from dashboard.components.notifications import EVENT_OPTIONS

dash.register_page(
    __name__, path="/notifications", name="Notifications", title="certpush - notifications"
)


def _address() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5("Your e-mail address", className="card-title"),
                dbc.Row(
                    [
                        dbc.Col(
                            dbc.Input(
                                id=ids.NOTIFY_EMAIL,
                                type="email",
                                maxLength=254,
                                placeholder="name@example.org",
                            ),
                            md=5,
                        ),
                        dbc.Col(dbc.Button("Save address", id=ids.NOTIFY_EMAIL_SAVE), md="auto"),
                    ],
                    className="g-2",
                ),
                html.P("Empty: nothing reaches you by e-mail.", className="text-muted small mt-2"),
            ]
        ),
        className="mb-3",
    )


def _choices() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5("What reaches you, and when", className="card-title"),
                html.P(
                    "Each kind of event as it happens, in one daily digest, or not at all. "
                    '"Approval needed" only ever reaches those who may take the next step.',
                    className="text-muted small",
                ),
                html.Div(id=ids.NOTIFY_PREFS),
                dbc.Button("Save choices", id=ids.NOTIFY_PREFS_SAVE),
            ]
        ),
        className="mb-3",
    )


def _channels() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5("Channels", className="card-title"),
                html.P(
                    "An Apprise URL (json://host/path, slack://…, workflows://…). It holds "
                    "the channel's secret: it is sealed and never shown again.",
                    className="text-muted small",
                ),
                dbc.Row(
                    [
                        dbc.Col(
                            dbc.Input(id=ids.NOTIFY_CHANNEL_NAME, placeholder="name", maxLength=64),
                            md=3,
                        ),
                        dbc.Col(
                            dbc.Input(
                                id=ids.NOTIFY_CHANNEL_URL,
                                type="password",
                                placeholder="URL",
                                autocomplete="off",
                            ),
                            md=6,
                        ),
                        dbc.Col(dbc.Button("Add channel", id=ids.NOTIFY_CHANNEL_ADD), md="auto"),
                    ],
                    className="g-2 mb-2",
                ),
                dbc.Checklist(
                    id=ids.NOTIFY_CHANNEL_EVENTS,
                    options=EVENT_OPTIONS,
                    value=[],
                    inline=True,
                    className="small mb-2",
                ),
                html.P("No event ticked: every event.", className="text-muted small"),
                dbc.Alert(id=ids.NOTIFY_CHANNEL_MESSAGE, is_open=False, className="mb-2"),
                html.Div(id=ids.NOTIFY_CHANNELS),
                dcc.Store(id=ids.NOTIFY_TEST_TASK),
                dcc.Interval(
                    id=ids.NOTIFY_TEST_POLL, interval=1000, max_intervals=60, disabled=True
                ),
            ]
        ),
        className="mb-3",
    )


def _outbox() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5("Outbox: waiting and failed", className="card-title"),
                html.Div(id=ids.NOTIFY_OUTBOX),
            ]
        ),
        className="mb-3",
    )


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            html.H2("Notifications"),
            dbc.Alert(id=ids.NOTIFY_MESSAGE, is_open=False, dismissable=True),
            _address(),
            _choices(),
            html.Div([_channels(), _outbox()], id=ids.NOTIFY_ADMIN, hidden=True),
            dcc.Store(id=ids.NOTIFY_REFRESH),
        ]
    )
