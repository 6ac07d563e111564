"""Login, sessions, CSRF defence and the role check every callback calls.

Access control happens here and inside each callback, on the server; the
navbar hiding a link is only a convenience. The login form is a plain Flask
page so that nothing of the Dash app (layout, dependencies, callbacks, even
its JavaScript bundles) is served to someone who has not logged in.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template_string,
    request,
    session,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from data.config import Settings
from data.db import session_scope
from data.domain.errors import AuthError, PermissionDenied
from data.domain.roles import Permission, Role, require
from data.users import UserInfo, authenticate, get_user

LOGIN_PATH = "/login"
PUBLIC_PREFIXES = ("/assets/vendor/bootstrap/", "/assets/login.css")
PUBLIC_PATHS = {LOGIN_PATH, "/healthz"}


class WebUser(UserMixin):
    """Flask-Login's view of a certpush user."""

    def __init__(self, info: UserInfo):
        self.info = info

    def get_id(self) -> str:
        return str(self.info.id)


def settings() -> Settings:
    """The settings of the app serving this request."""
    return current_app.config["CERTPUSH_SETTINGS"]


def acting_user() -> UserInfo:
    """The logged-in user, or AuthError: every callback starts from this."""
    if not current_user.is_authenticated:
        raise AuthError("please log in again: your session has ended")
    return current_user.info


def require_permission(permission: Permission) -> UserInfo:
    """The logged-in user if their role holds ``permission``; raise PermissionDenied otherwise."""
    user = acting_user()
    require(user.role, permission)
    return user


def _secret_key(path: Path) -> str:
    """One key file shared by every gunicorn worker; the first to start writes it."""
    env = os.environ.get("CERTPUSH_SECRET_KEY")
    if env:
        return env
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    except FileExistsError:
        pass
    return path.read_text().strip()


def _csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _same_origin() -> bool:
    """JSON POSTs from our own pages carry our Origin (or Referer); cross-site ones do not."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True  # non-browser clients (tests, scripts) send neither; cookies still required
    return urlsplit(origin).netloc == request.host


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: an open redirect would help phishing."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>certpush - log in</title>
<link rel="stylesheet" href="/assets/vendor/bootstrap/bootstrap.min.css">
</head><body class="bg-light">
<main class="container" style="max-width: 26rem; margin-top: 10vh">
  <h1 class="h3 mb-1">certpush</h1>
  <p class="text-muted">Certificate push-to-device operations</p>
  {% if error %}
  <div class="alert alert-danger" role="alert" id="login-error">{{ error }}</div>
  {% endif %}
  <form method="post" action="/login" class="card card-body shadow-sm">
    <input type="hidden" name="csrf" value="{{ csrf }}">
    <input type="hidden" name="next" value="{{ next }}">
    <label class="form-label" for="login-username">User name</label>
    <input class="form-control mb-3" id="login-username" name="username" autocomplete="username"
           value="{{ username }}" required autofocus>
    <label class="form-label" for="login-password">Password</label>
    <input class="form-control mb-3" id="login-password" name="password" type="password"
           autocomplete="current-password" required>
    <button class="btn btn-primary" id="login-submit" type="submit">Log in</button>
  </form>
</main></body></html>"""


def _login_view() -> Response | str:
    error = None
    username = ""
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not hmac.compare_digest(sent, session.get("csrf", "")):
            error = "the login form expired: please try again"
        else:
            username = request.form.get("username", "").strip()[:64]
            try:
                with session_scope(settings().database_url) as db:
                    info = authenticate(db, username, request.form.get("password", ""))
                session.clear()
                login_user(WebUser(info))
                _csrf_token()
                return redirect(_safe_next(request.form.get("next")))
            except AuthError as exc:
                error = str(exc)
    html = render_template_string(
        LOGIN_PAGE,
        error=error,
        csrf=_csrf_token(),
        next=_safe_next(request.args.get("next") or request.form.get("next")),
        username=username,
    )
    return Response(html, status=401 if error else 200, mimetype="text/html")


def _logout_view() -> Response:
    logout_user()
    session.clear()
    return redirect(LOGIN_PATH)


def _guard() -> Response | None:
    """Runs before every request: public paths pass, everything else needs a session."""
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    if not current_user.is_authenticated:
        if request.method != "GET" or path.startswith("/_dash") or path.startswith("/api/"):
            return Response('{"error": "login required"}', status=401, mimetype="application/json")
        return redirect(f"{LOGIN_PATH}?next={request.full_path.rstrip('?')}")
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if path.startswith("/_dash") and not request.is_json:
            abort(415)  # a cross-site form cannot send JSON without a CORS preflight
        if not _same_origin():
            return jsonify(error="cross-site request refused"), 403
    return None


def init_auth(server: Flask, app_settings: Settings) -> None:
    """Wire sessions, the login page and the request guard into the Flask server."""
    server.config.update(
        SECRET_KEY=_secret_key(app_settings.secret_key_file),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        CERTPUSH_SETTINGS=app_settings,
    )
    manager = LoginManager()
    manager.init_app(server)

    @manager.user_loader
    def load_user(user_id: str) -> WebUser | None:
        try:
            with session_scope(settings().database_url) as db:
                info = get_user(db, int(user_id))
        except ValueError:
            return None
        return WebUser(info) if info else None

    server.add_url_rule(LOGIN_PATH, "login", _login_view, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout_view, methods=["GET", "POST"])
    server.add_url_rule("/healthz", "healthz", lambda: "ok")
    server.before_request(_guard)


def role_label(role: Role) -> str:
    return role.value.capitalize()


__all__ = [
    "PermissionDenied",
    "WebUser",
    "acting_user",
    "init_auth",
    "require_permission",
    "role_label",
    "settings",
]
