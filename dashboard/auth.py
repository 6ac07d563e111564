"""Login, server-side sessions, CSRF defence and the role check every callback calls.

Access control happens here and inside each callback, on the server; the navbar hiding
a link is only a convenience. The login form is a plain Flask page so that nothing of
the Dash app (layout, dependencies, callbacks, even its JavaScript bundles) is served to
someone who has not logged in.

Sessions live in the database (data/sessions.py): the signed Flask cookie holds only
the session's random token (and, before login, the login form's token). Each request
checks the row: revoked, idle, too old, user disabled or role changed all end it.
Flask-Login only carries ``current_user``; its remember-me cookie is never issued and
never honoured.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template_string,
    request,
    session,
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user
from markupsafe import Markup

from data import audit
from data.config import Settings
from data.db import session_scope
from data.domain.errors import AuthError, PermissionDenied
from data.domain.roles import Permission, Role, require
from data.domain.sessions import SessionEnd
from data.logins import LoginResult, begin_login, finish_login
from data.sessions import check_session, revoke_session, revoke_user_sessions
from data.users import UserInfo

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
SIGN_OUT_EVERYWHERE_PATH = "/logout/everywhere"
PUBLIC_PREFIXES = ("/assets/vendor/bootstrap/", "/assets/login.css")
PUBLIC_PATHS = {LOGIN_PATH, LOGOUT_PATH, "/healthz"}
API_PREFIX = "/api/"
SESSION_KEY = "sid"  # the session token, the only thing the cookie holds after login
LOGIN_TOKEN_KEY = "login_csrf"  # the login form's token, before login
FORM_FIELD = "csrf"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class WebUser(UserMixin):
    """Flask-Login's view of a certpush user, with the session token they came with."""

    def __init__(self, info: UserInfo, session_token: str | None = None):
        self.info = info
        self.session_token = session_token

    def get_id(self) -> str:
        return str(self.info.id)


def settings() -> Settings:
    """The settings of the app serving this request."""
    return current_app.config["CERTPUSH_SETTINGS"]


def now() -> datetime:
    """The app's clock (``CERTPUSH_CLOCK``: real UTC, or a test's)."""
    return current_app.config["CERTPUSH_CLOCK"]()


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


class SessionCookie(SecureCookieSessionInterface):
    """Flask's signed cookie, marked ``Secure`` whenever the request came over HTTPS
    (directly, or through a trusted proxy: CERTPUSH_PROXY_FIX)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = bool(app.config["SESSION_COOKIE_SECURE"])
        return configured or (has_request_context() and request.is_secure)


def form_token() -> str:
    """The CSRF token of the logged-in pages' POST forms (logout, sign out everywhere).

    An HMAC of the session token under the app's secret: bound to this session, so the
    cookie carries nothing more and another session's token is worthless. Empty when
    nobody is logged in.
    """
    token = session.get(SESSION_KEY) if has_request_context() else None
    if not token:
        return ""
    key = current_app.secret_key
    key_bytes = key.encode() if isinstance(key, str) else key
    return hmac.new(key_bytes, b"certpush-form:" + token.encode(), hashlib.sha256).hexdigest()


def _tokens_match(sent: str, expected: str) -> bool:
    """Both present and equal: an empty token never matches an empty session."""
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _login_token() -> str:
    """The login form's token, kept in the pre-login cookie until a login succeeds."""
    token = session.get(LOGIN_TOKEN_KEY)
    if not token:
        token = session[LOGIN_TOKEN_KEY] = secrets.token_urlsafe(32)
    return token


def _origin() -> str | None:
    return request.headers.get("Origin") or request.headers.get("Referer")


def _same_origin() -> bool:
    """JSON POSTs from our own pages carry our Origin (or Referer); cross-site ones do not."""
    origin = _origin()
    if not origin:
        return True  # non-browser clients (tests, scripts) send neither; cookies still required
    return urlsplit(origin).netloc == request.host


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: an open redirect would help phishing."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>certpush - {{ title }}</title>
<link rel="stylesheet" href="/assets/vendor/bootstrap/bootstrap.min.css">
<link rel="stylesheet" href="/assets/login.css">
</head><body class="bg-light">
<main class="container login-box">
  <h1 class="h3 mb-1">certpush</h1>
  <p class="text-muted">Certificate push-to-device operations</p>
  {% if notice %}
  <div class="alert alert-info" role="status" id="login-notice">{{ notice }}</div>
  {% endif %}
  {% if error %}
  <div class="alert alert-danger" role="alert" id="login-error">{{ error }}</div>
  {% endif %}
  {{ body }}
</main></body></html>"""

LOGIN_FORM = """
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
  </form>"""

LOGOUT_FORM = """
  <form method="post" action="/logout" class="card card-body shadow-sm">
    <input type="hidden" name="csrf" value="{{ csrf }}">
    <p>Log out {{ username }} from this browser?</p>
    <button class="btn btn-primary" id="logout-confirm" type="submit">Log out</button>
    <a class="btn btn-link" href="/">Back to certpush</a>
  </form>"""

NOTICES = {
    "logout": "You have logged out.",
    "everywhere": "You have been signed out on every device.",
    "ended": "Your session has ended: please log in again.",
}


def _page(
    title: str, form: str, *, status: int = 200, error: str | None = None, **values
) -> Response:
    notice = NOTICES.get(request.args.get("notice", ""))
    body = Markup(render_template_string(form, **values))  # autoescaped already
    html = render_template_string(
        PAGE, title=title, body=body, error=error, notice=None if error else notice
    )
    return Response(html, status=status, mimetype="text/html")


def _client_address() -> str:
    return request.remote_addr or ""


def _log_in(username: str, password: str) -> tuple[LoginResult, datetime | None]:
    """Two short transactions (data/logins.py): the throttle, then the password."""
    url, policy, at = settings().database_url, settings().throttle_policy, now()
    with session_scope(url) as db:
        attempt = begin_login(
            db, username=username, address=_client_address(), now=at, policy=policy
        )
    if attempt.refused:
        return LoginResult(message=attempt.refused), attempt.retry_at
    with session_scope(url) as db:
        result = finish_login(
            db,
            attempt,
            password,
            user_agent=request.headers.get("User-Agent", ""),
            now=at,
            policy=policy,
        )
    return result, None


def _end_current_session(reason: str) -> None:
    token = session.get(SESSION_KEY)
    if token:
        with session_scope(settings().database_url) as db:
            revoke_session(db, token, reason=reason, now=now())


def _login_view() -> Response:
    error = None
    status = 200
    username = ""
    headers: dict[str, str] = {}
    if request.method == "POST":
        origin = _origin()
        if origin and urlsplit(origin).netloc != request.host:
            error, status = "cross-site login refused: open certpush itself and log in there", 403
        elif not _tokens_match(request.form.get(FORM_FIELD, ""), session.get(LOGIN_TOKEN_KEY, "")):
            error, status = "the login form expired: please try again", 400
        else:
            username = request.form.get("username", "").strip()[:64]
            result, retry_at = _log_in(username, request.form.get("password", ""))
            if result.token:
                _end_current_session("replaced by a new login")
                session.clear()  # the login token is single use
                session[SESSION_KEY] = result.token
                return redirect(_safe_next(request.form.get("next")))
            error, status = result.message, 401
            if retry_at is not None:
                status = 429
                seconds = math.ceil((retry_at - now()).total_seconds())
                headers["Retry-After"] = str(max(1, seconds))
    response = _page(
        "log in",
        LOGIN_FORM,
        status=status,
        error=error,
        csrf=_login_token(),
        next=_safe_next(request.args.get("next") or request.form.get("next")),
        username=username,
    )
    response.headers.update(headers)
    return response


def _logged_out(notice: str) -> Response:
    session.clear()
    return redirect(f"{LOGIN_PATH}?{urlencode({'notice': notice})}")


def _logout_view() -> Response:
    """GET asks (a link or a prefetch must not log anyone out); POST with the token ends it."""
    if not current_user.is_authenticated:
        return _logged_out("logout") if request.method == "POST" else redirect(LOGIN_PATH)
    user = current_user.info
    if request.method == "GET":
        return _page("log out", LOGOUT_FORM, csrf=form_token(), username=user.username)
    if not _tokens_match(request.form.get(FORM_FIELD, ""), form_token()):
        return _page(
            "log out",
            LOGOUT_FORM,
            status=403,
            error="the logout form expired: confirm again",
            csrf=form_token(),
            username=user.username,
        )
    with session_scope(settings().database_url) as db:
        revoke_session(db, session[SESSION_KEY], reason=SessionEnd.LOGOUT.value, now=now())
        audit.record(
            db,
            actor=user.username,
            action="logout",
            now=now(),
            target=user.username,
            detail=f"from {_client_address()}",
            user_id=user.id,
        )
    return _logged_out("logout")


def _sign_out_everywhere_view() -> Response:
    """End every session of the logged-in user, this one included (POST with the token)."""
    if request.method != "POST":
        abort(405, valid_methods=["POST"])  # else Dash's catch-all page would answer a GET
    user = acting_user()
    if not _tokens_match(request.form.get(FORM_FIELD, ""), form_token()):
        return jsonify(error="the form expired: reload the page and try again"), 403
    at = now()
    with session_scope(settings().database_url) as db:
        ended = revoke_user_sessions(
            db, user.username, reason=SessionEnd.SIGNED_OUT_EVERYWHERE.value, now=at
        )
        audit.record(
            db,
            actor=user.username,
            action="session.revoke_all",
            now=at,
            target=user.username,
            detail=f"from {_client_address()}: {ended} session(s) ended",
            user_id=user.id,
        )
    return _logged_out("everywhere")


def _load_user_from_session(_request) -> WebUser | None:
    """Flask-Login's request loader: the server-side session named by the cookie, checked."""
    token = session.get(SESSION_KEY)
    if not token:
        return None
    with session_scope(settings().database_url) as db:
        check = check_session(db, token, now=now(), policy=settings().session_policy)
    if check.user is None:
        session.pop(SESSION_KEY, None)
        g.certpush_session_ended = str(check.ended)
        return None
    return WebUser(check.user, token)


def _guard() -> Response | None:
    """Runs before every request: public paths pass, everything else needs a session."""
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    if path.startswith(API_PREFIX) and (
        request.headers.get("Authorization") or not current_user.is_authenticated
    ):
        # The API authenticates each call itself (a bearer token; dashboard/api/caller.py)
        # and answers 401 as a problem document. A token is not sent by browsers on their
        # own, so no cross-site check is needed for it.
        return None
    if not current_user.is_authenticated:
        if request.method != "GET" or path.startswith("/_dash") or path.startswith("/api/"):
            return Response('{"error": "login required"}', status=401, mimetype="application/json")
        query = {"next": request.full_path.rstrip("?")}
        if g.get("certpush_session_ended"):
            query["notice"] = "ended"
        return redirect(f"{LOGIN_PATH}?{urlencode(query, safe='/')}")
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if path.startswith("/_dash") and not request.is_json:
            abort(415)  # a cross-site form cannot send JSON without a CORS preflight
        if not _same_origin():
            return jsonify(error="cross-site request refused"), 403
    return None


def init_auth(server: Flask, app_settings: Settings, clock: Clock | None = None) -> None:
    """Wire sessions, the login page and the request guard into the Flask server."""
    server.session_interface = SessionCookie()
    server.config.update(
        SECRET_KEY=_secret_key(app_settings.secret_key_file),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_PROTECTION=None,  # the server-side session is the protection
        CERTPUSH_SETTINGS=app_settings,
        CERTPUSH_CLOCK=clock or utc_now,
    )
    manager = LoginManager()
    manager.init_app(server)

    @manager.user_loader
    def _no_user_from_ids(_user_id: str) -> None:
        """A user id in a cookie (remember-me, or a cookie from before server-side
        sessions) is never enough: only ``_load_user_from_session`` logs anyone in."""
        return None

    manager.request_loader(_load_user_from_session)
    server.add_url_rule(LOGIN_PATH, "login", _login_view, methods=["GET", "POST"])
    server.add_url_rule(LOGOUT_PATH, "logout", _logout_view, methods=["GET", "POST"])
    server.add_url_rule(
        SIGN_OUT_EVERYWHERE_PATH,
        "sign_out_everywhere",
        _sign_out_everywhere_view,
        methods=["GET", "POST"],
    )
    server.add_url_rule("/healthz", "healthz", lambda: "ok")
    server.before_request(_guard)


def role_label(role: Role) -> str:
    return role.value.capitalize()


__all__ = [
    "PermissionDenied",
    "WebUser",
    "acting_user",
    "form_token",
    "init_auth",
    "now",
    "require_permission",
    "role_label",
    "settings",
]
