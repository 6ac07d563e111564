"""The "Import certificates" dialog and its result table."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from data.importer import ImportResult, Outcome

RESULT_COLOURS = {
    Outcome.IMPORTED: "success",
    Outcome.DUPLICATE: "secondary",
    Outcome.REJECTED: "danger",
}


def import_dialog(max_file_bytes: int) -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Import certificates")),
            dbc.ModalBody(
                [
                    html.P(
                        "PEM, DER or PKCS#12 certificates, and private keys (PKCS#8 or "
                        "traditional PEM). Keys are matched to their certificates and stored "
                        "encrypted.",
                        className="small text-muted",
                    ),
                    dbc.Label("Password for PKCS#12 files or encrypted keys (optional)"),
                    dbc.Input(
                        id=ids.IMPORT_PASSWORD,
                        type="password",
                        autoComplete="off",
                        className="mb-3",
                    ),
                    dcc.Upload(
                        id=ids.IMPORT_UPLOAD,
                        children=html.Div(["Drop files here or ", html.A("choose files")]),
                        multiple=True,
                        max_size=max_file_bytes,
                        className="border border-2 border-secondary rounded p-4 text-center",
                        style={"borderStyle": "dashed"},
                    ),
                    dcc.Loading(html.Div(id=ids.IMPORT_RESULTS, className="mt-3")),
                ]
            ),
            dbc.ModalFooter(dbc.Button("Close", id=ids.IMPORT_CLOSE, color="secondary")),
        ],
        id=ids.IMPORT_MODAL,
        size="lg",
        is_open=False,
    )


def import_results(results: list[ImportResult]) -> html.Div:
    """A summary line and one table row per input, every value as text."""
    counts = {o: sum(r.result is o for r in results) for o in Outcome}
    summary = ", ".join(f"{n} {o.value}" for o, n in counts.items())
    rows = [
        html.Tr(
            [
                html.Td(dbc.Badge(r.result.value, color=RESULT_COLOURS[r.result])),
                html.Td(r.path + (f" #{r.item}" if r.item else ""), className="text-break"),
                html.Td(r.common_name or r.kind),
                html.Td(r.reason, className="small"),
            ]
        )
        for r in results
    ]
    return html.Div(
        [
            html.P(summary, id=ids.IMPORT_SUMMARY, className="fw-bold"),
            dbc.Table(
                [
                    html.Thead(
                        html.Tr(
                            [html.Th("Result"), html.Th("File"), html.Th("Name"), html.Th("Reason")]
                        )
                    ),
                    html.Tbody(rows),
                ],
                size="sm",
                striped=True,
            ),
        ]
    )


def import_error(message: str) -> dbc.Alert:
    return dbc.Alert(message, color="danger", id=ids.IMPORT_SUMMARY)
