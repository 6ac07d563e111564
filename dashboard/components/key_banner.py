"""The banner telling admins that the server has no usable master key."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html


def master_key_banner(missing: bool, problem: str) -> dbc.Alert:
    """What is unavailable and the command that fixes it; ``problem`` is the exact reason."""
    headline = "No master key" if missing else "The master key cannot be used"
    return dbc.Alert(
        [
            html.Strong(f"{headline}: "),
            "pushes, imports of private keys and connector secrets are unavailable — run ",
            html.Code("certpush keys generate"),
            " on the server (or set CERTPUSH_MASTER_KEY for every certpush process), then "
            "start the scheduler.",
            html.Div(problem, className="small mt-1"),
        ],
        color="danger",
        className="mb-3",
    )
