"""States of the topology's connector and endpoint nodes, and how each looks.

Certificates take their colour from status.py; connectors show the state of
their latest push (and, beside it, their latest work order), endpoints their
latest verification outcome. Like STATUS_TABLE, these tables are the only place these
colours are spelt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from data.domain.push_validation import PushVerdict


class ConnectorState(enum.StrEnum):
    NOT_PUSHED = "not-pushed"
    INSTALLED = "installed"
    FAILED = "failed"


class EndpointState(enum.StrEnum):
    UNVERIFIED = "unverified"
    MATCH = "match"
    MISMATCH = "mismatch"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class NodeStyle:
    label: str
    hex: str
    meaning: str


CONNECTOR_STATES: dict[ConnectorState, NodeStyle] = {
    ConnectorState.NOT_PUSHED: NodeStyle("Not pushed", "#cfd8dc", "No push has run on it yet."),
    ConnectorState.INSTALLED: NodeStyle(
        "Installed", "#2a9d4b", "The latest push installed the certificate."
    ),
    ConnectorState.FAILED: NodeStyle("Push failed", "#8d8d8d", "The latest push failed."),
}


def endpoint_state(outcome: str | None) -> EndpointState:
    """The node state for a verification outcome (see data/domain/verification.py)."""
    if outcome is None:
        return EndpointState.UNVERIFIED
    if outcome == "match":
        return EndpointState.MATCH
    if outcome == "mismatch":
        return EndpointState.MISMATCH
    return EndpointState.UNREACHABLE


ENDPOINT_STATES: dict[EndpointState, NodeStyle] = {
    EndpointState.UNVERIFIED: NodeStyle("Unverified", "#e9ecef", "Not checked yet."),
    EndpointState.MATCH: NodeStyle("Match", "#2a9d4b", "Serves the expected certificate."),
    EndpointState.MISMATCH: NodeStyle("Mismatch", "#8e5bb5", "Serves a different certificate."),
    EndpointState.UNREACHABLE: NodeStyle(
        "Unreachable", "#d62828", "No TLS handshake (timeout, refused, error)."
    ),
}


@dataclass(frozen=True)
class EndpointView:
    """One IP:port (with optional SNI name) where a device serves the certificate."""

    id: int
    host: str
    port: int
    sni: str | None
    state: EndpointState = EndpointState.UNVERIFIED
    detail: str = ""  # latest verification: outcome reason, served vs expected certificate
    # The latest verification of this endpoint, field by field (None: never checked).
    checked_at: datetime | None = None
    reason: str = ""
    expected_fingerprint: str | None = None
    served_fingerprint: str | None = None
    served_subject: str | None = None
    served_not_after: datetime | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" + (f" ({self.sni})" if self.sni else "")


@dataclass(frozen=True)
class ConnectorView:
    """A connector bound to the certificate, as the topology shows it."""

    id: int
    name: str
    type: str
    state: ConnectorState
    endpoints: tuple[EndpointView, ...]
    detail: str = ""  # e.g. "installed 2026-11-27 15:02 UTC" or the failure reason
    # The newest work order on this connector for this certificate, when there is one.
    work_order: str | None = None  # "WO-000123"
    work_order_status: str | None = None  # a WorkOrderStatus label, "Push-Scheduled"
    run_at: datetime | None = None  # when a Push-Scheduled work order runs (UTC)
    work_order_final: bool = True  # False while the work order can still change
    work_order_reason: str = ""  # why it failed, e.g. "missed schedule: ..."
    # The last push of this certificate here and its verdict (the first sweep after it).
    last_push: PushVerdict | None = None
    windows: str = ""  # its maintenance windows, one a line ("" = any time)
    zone: str = "local"  # who reaches the device: the scheduler, or a zone's agents
    zone_offline: bool = False  # a zone with no live agent: its pushes and probes wait
