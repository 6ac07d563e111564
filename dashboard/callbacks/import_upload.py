"""Importing certificates from the browser: the same importer as the CLI, role-checked here."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx

from dashboard import ids
from dashboard.auth import require_permission, settings
from dashboard.components.import_dialog import import_error, import_results
from data.crypto import load_vault
from data.db import session_scope
from data.domain.errors import CertpushError, PermissionDenied
from data.domain.roles import Permission
from data.importer import Importer, ImportResult, Outcome

MAX_FILES = 200


@callback(
    Output(ids.IMPORT_MODAL, "is_open"),
    Input(ids.IMPORT_OPEN, "n_clicks"),
    Input(ids.IMPORT_CLOSE, "n_clicks"),
    prevent_initial_call=True,
)
def toggle_import(_open: int | None, _close: int | None) -> bool:
    return ctx.triggered_id == ids.IMPORT_OPEN


def _decode(content: str) -> bytes:
    """dcc.Upload sends "data:<type>;base64,<data>"."""
    _header, _, payload = content.partition(",")
    return base64.b64decode(payload, validate=True)


@callback(
    Output(ids.IMPORT_RESULTS, "children"),
    Output(ids.IMPORT_DONE, "data"),
    Input(ids.IMPORT_UPLOAD, "contents"),
    State(ids.IMPORT_UPLOAD, "filename"),
    State(ids.IMPORT_PASSWORD, "value"),
    prevent_initial_call=True,
)
def import_uploads(
    contents: list[str] | None, filenames: list[str] | None, password: str | None
) -> tuple[Any, Any]:
    """Import uploaded files; refuse roles without the import permission, whatever the UI showed."""
    try:
        user = require_permission(Permission.IMPORT_CERTIFICATES)
    except PermissionDenied as exc:
        return import_error(f"Import refused: {exc}."), None
    contents, filenames = contents or [], filenames or []
    if len(contents) > MAX_FILES:
        return import_error(f"Too many files at once: at most {MAX_FILES} per upload."), None
    app_settings = settings()
    now = datetime.now(UTC)
    passwords = [password.encode()] if password else []
    try:
        vault = load_vault(app_settings, required=False)  # keys are refused without it
        with session_scope(app_settings.database_url) as db:
            importer = Importer(db, vault, now, user.username, app_settings.max_file_bytes)
            for name, content in zip(filenames, contents, strict=False):
                try:
                    data = _decode(content)
                except (binascii.Error, ValueError):
                    importer.results.append(
                        ImportResult(name, None, "file", Outcome.REJECTED, "upload was damaged")
                    )
                    continue
                importer.add_bytes(name, data, passwords)
            results = importer.finish()
    except CertpushError as exc:
        return import_error(str(exc)), None
    imported = sum(r.result is Outcome.IMPORTED for r in results)
    return import_results(results), {"at": now.isoformat(), "imported": imported}


clientside_callback(
    ClientsideFunction(namespace="certpush", function_name="refreshGrid"),
    Output(ids.CLIENT_GRID, "id"),
    Input(ids.IMPORT_DONE, "data"),
    prevent_initial_call=True,
)
