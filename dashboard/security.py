"""Headers every response carries, and trusting the forwarded headers of a TLS proxy.

The Content-Security-Policy allows scripts from our own origin plus, by hash, the
inline scripts Dash writes into its page (``Dash.csp_hashes``: the renderer start and
the inline clientside callbacks, among them the one Dash Pages adds for the page title).
README "Security notes" lists each allowance and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

# Plotly.js and AG Grid write <style> elements at run time (plotly's hover, modebar
# and drag-cover rules; the grid's theme), without a nonce: see README Security notes.
STYLE_SOURCES = ("'self'", "'unsafe-inline'")


@lru_cache(maxsize=4)
def content_security_policy(script_hashes: tuple[str, ...]) -> str:
    """The policy for ``script_hashes`` (quoted CSP sources, e.g. ``'sha256-...'``)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": list(STYLE_SOURCES),
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _add_headers(response: Response) -> Response:
    headers = response.headers
    script_hashes = current_app.config["CERTPUSH_SCRIPT_HASHES"]()
    headers["Content-Security-Policy"] = content_security_policy(tuple(script_hashes))
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


class TrustedProxies:
    """WSGI middleware: with CERTPUSH_PROXY_FIX=N, werkzeug's ProxyFix trusting the last N
    proxies' X-Forwarded-For (the client address: login throttling, sessions, audit) and
    X-Forwarded-Proto (HTTPS: Secure cookies, HSTS). Without it those headers are ignored,
    since anyone can send them. The setting is read per request from the app's settings."""

    def __init__(self, wsgi_app, server: Flask):
        self.wsgi_app = wsgi_app
        self.server = server

    def __call__(self, environ, start_response):
        proxies = self.server.config["CERTPUSH_SETTINGS"].proxy_fix
        if not proxies:
            return self.wsgi_app(environ, start_response)
        return ProxyFix(self.wsgi_app, x_for=proxies, x_proto=proxies)(environ, start_response)


def init_security(server: Flask, script_hashes: Callable[[], Sequence[str]]) -> None:
    """Add the headers to every response and honour a trusted proxy's forwarded headers.

    ``script_hashes`` is asked at each response (``Dash.csp_hashes``, a few short hashes):
    Dash Pages registers its inline title callback only when it handles its first
    request, after the app is built, and the page served then must already allow it.
    """
    server.config["CERTPUSH_SCRIPT_HASHES"] = script_hashes
    server.after_request(_add_headers)
    server.wsgi_app = TrustedProxies(server.wsgi_app, server)
