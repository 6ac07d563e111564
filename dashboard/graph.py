"""Domain objects to cytoscape elements, and the one fixed stylesheet that colours them.

Elements are plain dicts whose ``classes`` name a status; colours come only from
STATUS_TABLE, through the stylesheet built once at import.
"""

from __future__ import annotations

from typing import Any

from data.domain.status import STATUS_TABLE
from data.queries import CertificateDetail

# breadthfirst draws a certificate -> connectors -> endpoints tree in well under a second
# at a few hundred nodes; cose freezes the tab (see STACK.md measurements).
LAYOUT: dict[str, Any] = {"name": "breadthfirst", "directed": True, "roots": "#certificate"}


def _stylesheet() -> list[dict[str, Any]]:
    sheet: list[dict[str, Any]] = [
        {
            "selector": "node",
            "style": {
                "label": "data(label)",
                "font-size": "11px",
                "text-valign": "bottom",
                "text-margin-y": "6px",
                "text-wrap": "ellipsis",
                "text-max-width": "180px",
                "border-width": 2,
                "border-color": "#444",
            },
        },
        {
            "selector": ".certificate",
            "style": {"shape": "round-rectangle", "width": 64, "height": 44, "font-size": "13px"},
        },
        {"selector": ".connector", "style": {"shape": "hexagon", "width": 40, "height": 40}},
        {"selector": ".endpoint", "style": {"shape": "ellipse", "width": 24, "height": 24}},
        {"selector": "edge", "style": {"width": 2, "line-color": "#9aa", "curve-style": "bezier"}},
        {"selector": ":selected", "style": {"border-width": 4, "border-color": "#0d6efd"}},
    ]
    for status, style in STATUS_TABLE.items():
        sheet.append(
            {"selector": f".status-{status.value}", "style": {"background-color": style.hex}}
        )
    return sheet


STYLESHEET: list[dict[str, Any]] = _stylesheet()


def certificate_node(detail: CertificateDetail) -> dict[str, Any]:
    row = detail.row
    return {
        "data": {
            "id": "certificate",
            "label": row.common_name or "(no common name)",
            "kind": "certificate",
            "fingerprint": row.fingerprint_sha256,
            "status": STATUS_TABLE[row.status].label,
        },
        "classes": f"certificate status-{row.status.value}",
    }


def topology_elements(detail: CertificateDetail) -> list[dict[str, Any]]:
    """The certificate node; connectors and endpoints join it when they exist."""
    return [certificate_node(detail)]
