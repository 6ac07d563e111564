"""The certificate detail card and the "no app connector yet" notice.

Every value is passed to Dash as a string child, which React renders as text:
a Common Name of "<script>" shows those characters and runs nothing.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids
from dashboard.components.status import status_badge
from data.queries import CertificateDetail


def _field(label: str, value: object) -> list[html.Dt | html.Dd]:
    text = "—" if value in (None, "") else str(value)
    return [html.Dt(label, className="col-sm-4"), html.Dd(text, className="col-sm-8 text-break")]


def certificate_details(detail: CertificateDetail) -> dbc.Card:
    row = detail.row
    key = f"{detail.key_type} {detail.key_size}" if detail.key_size else detail.key_type
    fields = [
        ("Common Name", row.common_name or "(no common name)"),
        ("Subject", detail.subject),
        ("SANs", ", ".join(row.sans)),
        ("Issuer", row.issuer),
        ("Serial", row.serial),
        ("Valid from", f"{row.not_before:%Y-%m-%d %H:%M} UTC"),
        ("Valid until", f"{row.not_after:%Y-%m-%d %H:%M} UTC ({row.days_left} days left)"),
        ("Key", key),
        ("Signature", detail.signature_algorithm),
        ("Extended key usage", ", ".join(detail.extended_key_usage)),
        ("CA", "yes" if detail.is_ca else "no"),
        ("Private key", "stored (encrypted)" if detail.has_private_key else "not stored"),
        ("SHA-256", row.fingerprint_sha256),
    ]
    if detail.revoked_at:
        fields.append(("Revoked", f"{detail.revoked_at:%Y-%m-%d} ({detail.revocation_reason})"))
    body: list = [html.Dl([part for f in fields for part in _field(*f)], className="row small")]
    if detail.parse_warnings:
        body.append(
            dbc.Alert(
                ["Some fields could not be read: ", "; ".join(detail.parse_warnings)],
                color="warning",
                className="small",
            )
        )
    return dbc.Card(
        [
            dbc.CardHeader(["Certificate ", status_badge(row.status)]),
            dbc.CardBody(body),
        ],
        id=ids.TOPOLOGY_DETAILS + "-card",
    )
