"""The Agents page's pieces: each zone's state and the table of enrolled agents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from data.agents import AgentInfo

STATE_COLOURS = {"pending": "warning", "approved": "success", "revoked": "dark"}
HEADERS = [
    "Agent",
    "Zone",
    "State",
    "Key fingerprint (SHA-256)",
    "Version",
    "Last heartbeat (UTC)",
    "In flight",
    "",
]


def _decide(
    agent: AgentInfo, verb: str, label: str, colour: str, message: str
) -> dcc.ConfirmDialogProvider:
    return dcc.ConfirmDialogProvider(
        dbc.Button(label, size="sm", color=colour, className="me-1"),
        id=ids.agent_decision(agent.name, verb),
        message=message,
    )


def _actions(agent: AgentInfo, admin: bool) -> html.Td:
    """Admins approve a pending agent (after comparing its fingerprint) or revoke one."""
    if not admin or agent.state.value == "revoked":
        return html.Td()
    buttons = []
    if agent.state.value == "pending":
        buttons.append(
            _decide(
                agent,
                "approve",
                "Approve",
                "outline-success",
                f"Approve agent {agent.name} for zone {agent.zone}? Check that "
                f"the agent printed this key fingerprint at start: "
                f"{agent.fingerprint}",
            )
        )
    buttons.append(
        _decide(
            agent,
            "revoke",
            "Revoke",
            "outline-danger",
            f"Revoke agent {agent.name}? It gets no more work and its results "
            "are refused. This cannot be undone.",
        )
    )
    return html.Td(buttons)


def zone_badges(agents: Sequence[AgentInfo], now: datetime) -> html.Div:
    """Each zone, online while one of its approved agents is live."""
    zones: dict[str, bool] = {}
    for agent in agents:
        zones[agent.zone] = zones.get(agent.zone, False) or agent.live(now)
    if not zones:
        return html.Div()
    return html.Div(
        [
            dbc.Badge(
                f"{zone}: {'online' if up else 'offline'}",
                color="success" if up else "danger",
                className="me-2",
                id={"type": "agents-zone", "zone": zone},
            )
            for zone, up in sorted(zones.items())
        ]
    )


def agent_table(agents: Sequence[AgentInfo], now: datetime, *, admin: bool) -> html.Div | dbc.Table:
    if not agents:
        return html.P(
            "No agent has enrolled yet: start one with certpush agent --zone NAME "
            "--state DIR (and CERTPUSH_BROKER_URL).",
            className="text-muted",
            id="agents-none",
        )
    rows = []
    for agent in agents:
        seen = f"{agent.last_heartbeat:%Y-%m-%d %H:%M:%S}" if agent.last_heartbeat else "never"
        live = " (live)" if agent.live(now) else " (silent)"
        rows.append(
            html.Tr(
                [
                    html.Td(agent.name),
                    html.Td(agent.zone),
                    html.Td(dbc.Badge(agent.state.value, color=STATE_COLOURS[agent.state.value])),
                    html.Td(html.Code(agent.fingerprint, className="small")),
                    html.Td(agent.version),
                    html.Td(seen + live),
                    html.Td(str(agent.in_flight)),
                    _actions(agent, admin),
                ],
                id={"type": "agents-row", "agent": agent.name},
            )
        )
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in HEADERS])), html.Tbody(rows)],
        bordered=True,
        hover=True,
        size="sm",
    )
