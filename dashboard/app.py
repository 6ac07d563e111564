"""The Dash app factory. ``server`` is what gunicorn serves (Procfile: dashboard.app:server).

No scheduler and no mutable globals live here: several gunicorn workers may
serve the same database side by side.
"""

from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, dcc, html
from flask import Flask, jsonify

from dashboard import ids
from dashboard.api.problems import from_error, is_api_request
from dashboard.auth import form_token, init_auth
from dashboard.components.navbar import navbar
from dashboard.security import init_security
from data.config import Settings
from data.domain.errors import AuthError, PermissionDenied

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"


def _shell() -> html.Div:
    return html.Div(
        [
            dcc.Location(id=ids.URL),
            dcc.Store(id=ids.BROWSER_TZ),
            navbar(form_token()),
            # Filled for admins only, server-side, when there is no usable master key.
            dbc.Container(id=ids.MASTER_KEY_BANNER, fluid=True),
            dbc.Container(dash.page_container, fluid=True, className="pb-4"),
        ]
    )


def _register_error_handlers(server: Flask) -> None:
    """A role refused inside a callback becomes a 403 with the reason, never a stack trace."""

    @server.errorhandler(PermissionDenied)
    def _forbidden(exc: PermissionDenied):
        if is_api_request():
            return from_error(exc)
        return jsonify(error=str(exc)), 403

    @server.errorhandler(AuthError)
    def _unauthorised(exc: AuthError):
        if is_api_request():
            return from_error(exc)
        return jsonify(error=str(exc)), 401


def create_app(settings: Settings | None = None) -> Dash:
    """Build the app for ``settings`` (from the environment by default)."""
    settings = settings or Settings.from_env()
    server = Flask("certpush")
    # An upload of many files arrives as one callback request (base64: 4/3 the size).
    server.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    init_auth(server, settings)
    _register_error_handlers(server)
    from dashboard.api import init_api

    init_api(server)
    app = Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(Path(__file__).with_name("pages")),
        assets_folder=str(ASSETS),
        serve_locally=True,
        title="certpush",
        update_title=None,
        suppress_callback_exceptions=True,
    )
    app.layout = _shell
    # Callbacks register on import, once per process.
    from dashboard.callbacks import (  # noqa: F401
        agents,
        approval,
        audit,
        client_certificates,
        connectors,
        import_upload,
        notifications,
        reports,
        rollouts,
        shell,
        tokens,
        topology,
        users,
        verify_now,
        workorders,
    )

    init_security(server, app.csp_hashes)
    return app


app = create_app()
server = app.server
