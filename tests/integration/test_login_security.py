"""Login hardening through the web app's public surface (Flask test client, real database):
throttling and locks, the login and logout CSRF defence, server-side sessions and their
timeouts, and the security headers. Time is the app's injected clock."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from data.config import Settings
from data.db import session_scope
from data.domain.errors import NotFound
from data.domain.sessions import token_digest
from data.models import AuditEvent, User, UserSession
from data.sessions import live_sessions, revoke_user_sessions
from data.users import add_user
from tests.integration.test_web import grid_payload

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAGE = "/certificates/client"
DASH_LAYOUT = "/_dash-layout"
API = "/api/v1/reports/push-validation?days=7"
FOREIGN = {"Origin": "https://evil.example"}


class Clock:
    """The app's clock (CERTPUSH_CLOCK), moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _serve(settings: Settings, clock: Clock) -> Iterator:
    from dashboard.app import app

    with session_scope(settings.database_url) as db:
        add_user(db, "olivia", "operator", PASSWORD, clock())
        add_user(db, "maya", "manager", PASSWORD, clock())
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"], server.config["CERTPUSH_CLOCK"]
    server.config["CERTPUSH_SETTINGS"] = settings
    server.config["CERTPUSH_CLOCK"] = clock
    try:
        yield server
    finally:
        server.config["CERTPUSH_SETTINGS"], server.config["CERTPUSH_CLOCK"] = previous


@pytest.fixture
def web(sqlite_settings, clock):
    """The app's Flask server on a fresh SQLite database, two users, the test's clock."""
    yield from _serve(sqlite_settings, clock)


@pytest.fixture
def web_any(settings, clock):
    """The same on SQLite and PostgreSQL (when a server is given)."""
    yield from _serve(settings, clock)


def _configure(server, **changes) -> None:
    server.config["CERTPUSH_SETTINGS"] = dataclasses.replace(
        server.config["CERTPUSH_SETTINGS"], **changes
    )


def _client(server, address: str = "127.0.0.1"):
    """A browser at ``address``."""
    client = server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


class HttpsClient(FlaskClient):
    """A browser talking to certpush over HTTPS (every request, so Secure cookies return)."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", "https://certpush.example")
        return super().open(*args, **kwargs)


def _https_client(server) -> HttpsClient:
    return HttpsClient(server, server.response_class, use_cookies=True)


def _form_token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def login(client, username: str = "olivia", password: str = PASSWORD, **kwargs):
    token = _form_token(client)
    return client.post(
        "/login",
        data={"csrf": token, "username": username, "password": password, "next": "/"},
        **kwargs,
    )


def logout(client):
    return client.post("/logout", data={"csrf": _form_token(client, "/logout")})


def _message(response) -> str:
    found = re.search(r'id="login-error">([^<]*)<', response.get_data(as_text=True))
    return found.group(1) if found else ""


def _logged_in(client) -> bool:
    response = client.get(PAGE)
    assert response.status_code in (200, 302)
    return response.status_code == 200


def _audit(server, prefix: str = "login.") -> list[AuditEvent]:
    with session_scope(server.config["CERTPUSH_SETTINGS"].database_url) as db:
        return list(
            db.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )


def _sessions(server) -> list[UserSession]:
    with session_scope(server.config["CERTPUSH_SETTINGS"].database_url) as db:
        return list(db.scalars(select(UserSession).order_by(UserSession.created_at)))


def _fail(client, clock: Clock, username: str = "olivia", times: int = 10) -> list:
    """``times`` wrong passwords, each after the wait the previous failures impose."""
    responses = []
    for _ in range(times):
        responses.append(login(client, username, WRONG))
        clock.move(seconds=17)  # longer than the longest delay before the lock (16 s)
    return responses


# --- throttling -------------------------------------------------------------------------


def test_ten_failures_lock_the_account_even_against_the_right_password(web_any, clock):
    client = _client(web_any)
    failures = _fail(client, clock)
    assert [r.status_code for r in failures] == [401] * 10
    assert all(_message(r).startswith("wrong user name or password") for r in failures)
    assert "try again in 15 minutes" in _message(failures[-1])

    refused = login(client)  # the right password, 17 s after the tenth failure
    assert refused.status_code == 429
    assert _message(refused) == "too many failed attempts: try again in 15 minutes"
    assert refused.headers["Retry-After"] == str(15 * 60 - 17)
    assert not _logged_in(client)

    clock.move(minutes=14)  # 14 min 17 s into the lock
    still = login(client)
    assert still.status_code == 429
    assert _message(still) == "too many failed attempts: try again in 43 seconds"
    assert not _logged_in(client)

    clock.move(minutes=2)  # 16 min 17 s: the lock is over
    accepted = login(client)
    assert accepted.status_code == 302 and accepted.headers["Location"] == "/"
    assert _logged_in(client)

    events = _audit(web_any)
    actions = [e.action for e in events]
    assert actions.count("login.failed") == 12  # ten wrong, two refused unchecked
    assert actions.count("login.locked") == 2  # the account and the address
    assert actions[-1] == "login.ok"
    assert all("from 127.0.0.1" in e.detail for e in events)
    assert not any(PASSWORD in e.detail or WRONG in e.detail for e in events)
    refusals = [e for e in events if "refused unchecked" in e.detail]
    assert len(refusals) == 2 and "account and address throttled" in refusals[0].detail


def test_a_success_resets_the_account_counter(web, clock):
    _fail(_client(web, "192.0.2.1"), clock, times=4)
    assert login(_client(web, "192.0.2.1")).status_code == 302
    client = _client(web, "192.0.2.2")
    # Four more failures at once: no delay, the account starts again from zero.
    assert [login(client, password=WRONG).status_code for _ in range(4)] == [401] * 4
    fifth = login(client, password=WRONG)
    assert fifth.status_code == 401 and "try again in 1 second" in _message(fifth)
    assert login(client).status_code == 429  # now the delay applies


def test_messages_are_the_same_for_a_user_that_does_not_exist(web, clock):
    def attempts(username: str, address: str) -> list[tuple[int, str]]:
        client = _client(web, address)
        seen = [(r.status_code, _message(r)) for r in _fail(client, clock, username)]
        clock.move(minutes=1)
        refused = login(client, username, PASSWORD)
        return [*seen, (refused.status_code, _message(refused))]

    start = clock()
    real = attempts("olivia", "192.0.2.10")
    clock.now = start  # the same instants for the second run
    ghost = attempts("nobody-here", "192.0.2.11")
    assert real == ghost
    assert real[-1] == (429, "too many failed attempts: try again in 14 minutes")


def test_one_address_is_throttled_across_user_names(web, clock):
    attacker = _client(web, "192.0.2.50")
    for i in range(10):
        login(attacker, f"guess-{i}", WRONG)
        clock.move(seconds=17)
    refused = login(attacker, "olivia", PASSWORD)
    assert refused.status_code == 429
    assert _message(refused).startswith("too many failed attempts: try again in")
    assert login(_client(web, "192.0.2.51"), "olivia", PASSWORD).status_code == 302
    locks = [e for e in _audit(web) if e.action == "login.locked"]
    assert [e.target for e in locks] == ["192.0.2.50"]


def test_guesses_sent_in_parallel_cannot_pass_the_check_together(web_any, clock):
    """Each attempt is counted before its password is checked: of twelve parallel guesses
    exactly five (the free ones) reach the password, the others wait."""
    results: list[int] = []
    lock = threading.Lock()

    def guess() -> None:
        status = login(_client(web_any), "olivia", WRONG).status_code
        with lock:
            results.append(status)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [401] * 5 + [429] * 7


# --- CSRF on login and logout ------------------------------------------------------------


def test_a_cross_origin_login_post_is_refused_and_creates_no_session(web):
    client = _client(web)
    forged = client.post(
        "/login",
        data={"username": "olivia", "password": PASSWORD},
        headers=FOREIGN,
    )
    assert forged.status_code == 403
    assert "cross-site login refused" in _message(forged)
    with_token = login(client, headers=FOREIGN)
    assert with_token.status_code == 403  # our own token does not help a foreign page
    assert not _logged_in(client)
    assert _sessions(web) == [] and _audit(web) == []


def test_an_empty_token_never_matches_an_empty_session(web):
    client = _client(web)
    empty = client.post("/login", data={"csrf": "", "username": "olivia", "password": PASSWORD})
    assert empty.status_code == 400 and "form expired" in _message(empty)
    missing = client.post("/login", data={"username": "olivia", "password": PASSWORD})
    assert missing.status_code == 400
    stranger = _form_token(_client(web))  # another browser's token
    fresh = _client(web)
    sent = fresh.post("/login", data={"csrf": stranger, "username": "olivia", "password": PASSWORD})
    assert sent.status_code == 400
    assert not _logged_in(client) and not _logged_in(fresh)
    assert _sessions(web) == []


def test_the_login_token_is_single_use(web):
    client = _client(web)
    token = _form_token(client)
    data = {"csrf": token, "username": "olivia", "password": PASSWORD}
    assert client.post("/login", data=data).status_code == 302
    again = client.post("/login", data={**data, "username": "maya"})
    assert again.status_code == 400  # the pre-login cookie is gone with its token
    assert _logged_in(client)


def test_logout_by_get_changes_nothing_and_by_post_revokes(web):
    client = _client(web)
    login(client)
    confirm = client.get("/logout")
    assert confirm.status_code == 200 and 'method="post" action="/logout"' in confirm.text
    assert _logged_in(client)
    forged = client.post("/logout", data={"csrf": ""})
    assert forged.status_code == 403 and _logged_in(client)
    done = logout(client)
    assert done.status_code == 302 and done.headers["Location"] == "/login?notice=logout"
    assert not _logged_in(client)
    [row] = _sessions(web)
    assert row.revoked_reason == "logout"
    assert [e.action for e in _audit(web, "logout")] == ["logout"]


# --- server-side sessions ----------------------------------------------------------------


def _cookie(client) -> str:
    return client.get_cookie("session").value


def test_the_cookie_holds_only_a_random_session_token(web):
    client = _client(web)
    response = login(client)
    cookie = _cookie(client)
    content = web.session_interface.get_signing_serializer(web).loads(cookie)
    assert set(content) == {"sid"}
    token = content["sid"]
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 32  # 256 bits
    [row] = _sessions(web)
    assert row.id == token_digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert (row.role, row.client_address) == ("operator", "127.0.0.1")
    assert row.user_agent.startswith("Werkzeug")
    set_cookies = response.headers.getlist("Set-Cookie")
    assert not any(c.startswith("remember_token") for c in set_cookies)


def test_a_cookie_copied_before_logout_is_refused_after(web):
    original = _client(web)
    login(original)
    copy = _client(web)
    copy.set_cookie("session", _cookie(original))
    assert _logged_in(copy)
    logout(original)
    assert not _logged_in(copy)
    assert copy.get(DASH_LAYOUT).status_code == 401
    assert copy.post("/_dash-update-component", json={}).status_code == 401


def test_a_remember_me_cookie_does_not_log_anyone_in(web):
    from flask_login.utils import encode_cookie

    with web.app_context():
        remember = encode_cookie("1")
    client = _client(web)
    client.set_cookie("remember_token", remember)
    assert not _logged_in(client)
    assert client.get(DASH_LAYOUT).status_code == 401


def test_idle_timeout_with_last_seen_written_once_a_minute(web_any, clock):
    client = _client(web_any)
    login(client)
    clock.move(seconds=30)
    assert _logged_in(client)
    assert _sessions(web_any)[0].last_seen_at == START  # not rewritten within a minute
    for _ in range(3):
        clock.move(minutes=29)
        assert _logged_in(client)  # each use keeps it alive
    clock.move(minutes=30)
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "notice=ended" in response.headers["Location"]
    assert "next=/certificates/client" in response.headers["Location"]
    assert _sessions(web_any)[0].revoked_reason == "idle timeout"
    assert client.get(DASH_LAYOUT).status_code == 401


def test_absolute_lifetime(web, clock):
    client = _client(web)
    login(client)
    for _ in range(35):  # 11 h 40 min of steady use
        clock.move(minutes=20)
        assert client.get(DASH_LAYOUT).status_code == 200
    clock.move(minutes=20)
    assert client.get(DASH_LAYOUT).status_code == 401
    assert _sessions(web)[0].revoked_reason == "lifetime over"


def test_shorter_timeouts_are_configurable(web, clock):
    _configure(web, session_idle_minutes=5, session_max_hours=1)
    client = _client(web)
    login(client)
    clock.move(minutes=6)
    assert not _logged_in(client)


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"active": False}, "user disabled"), ({"role": "admin"}, "role changed")],
)
def test_disabling_or_changing_the_role_ends_the_session(web_any, change, reason):
    client = _client(web_any)
    login(client)
    assert _logged_in(client)
    with session_scope(web_any.config["CERTPUSH_SETTINGS"].database_url) as db:
        user = db.scalar(select(User).where(User.username == "olivia"))
        for name, value in change.items():
            setattr(user, name, value)
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert not _logged_in(client)
    assert _sessions(web_any)[0].revoked_reason == reason


def test_revoke_user_sessions_signs_a_user_out_everywhere(web_any, clock):
    first, second, other = _client(web_any), _client(web_any), _client(web_any)
    login(first)
    login(second)
    login(other, "maya")
    url = web_any.config["CERTPUSH_SETTINGS"].database_url
    with session_scope(url) as db:
        assert live_sessions(db, "olivia") == 2
        assert revoke_user_sessions(db, "olivia", reason="disabled by adam", now=clock()) == 2
        assert revoke_user_sessions(db, "olivia", reason="again", now=clock()) == 0
        with pytest.raises(NotFound):
            revoke_user_sessions(db, "nobody", reason="x", now=clock())
    assert not _logged_in(first) and not _logged_in(second)
    assert _logged_in(other)
    reasons = {s.revoked_reason for s in _sessions(web_any) if s.revoked_at}
    assert reasons == {"disabled by adam"}


def test_sign_out_everywhere_from_the_web(web):
    here, elsewhere = _client(web), _client(web)
    login(here)
    login(elsewhere)
    assert here.get("/logout/everywhere").status_code == 405
    assert here.post("/logout/everywhere", data={"csrf": "forged"}).status_code == 403
    assert _logged_in(here) and _logged_in(elsewhere)
    token = re.search(r'name="csrf" value="([^"]+)"', here.get("/logout").text).group(1)
    done = here.post("/logout/everywhere", data={"csrf": token})
    assert done.headers["Location"] == "/login?notice=everywhere"
    assert not _logged_in(here) and not _logged_in(elsewhere)
    [event] = _audit(web, "session.")
    assert event.action == "session.revoke_all" and "2 session(s) ended" in event.detail


def test_the_navbar_forms_carry_this_sessions_token(web):
    client = _client(web)
    login(client)
    layout = json.dumps(client.get(DASH_LAYOUT).get_json())
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/logout").text).group(1)
    assert layout.count(token) == 2  # Log out and Sign out everywhere
    assert layout.count('"method": "post"') == 2
    assert '"action": "/logout"' in layout and '"action": "/logout/everywhere"' in layout
    assert '"href": "/logout"' not in layout  # no GET link logs anyone out


# --- cookies and headers ------------------------------------------------------------------


def _session_cookie(response) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_cookie_flags_over_http_and_https(web):
    plain = login(_client(web))
    cookie = _session_cookie(plain)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    client = _https_client(web)
    secure = login(client)
    assert "Secure" in _session_cookie(secure)
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert _logged_in(client)


def test_forwarded_headers_count_only_behind_a_trusted_proxy(web):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    ignored = _client(web)
    ignored.get("/login", headers=forwarded)
    response = login(ignored, headers=forwarded)
    assert "Secure" not in _session_cookie(response)
    assert "Strict-Transport-Security" not in response.headers
    assert _audit(web)[-1].detail == "from 127.0.0.1"

    _configure(web, proxy_fix=1)
    proxied = _client(web)
    proxied.get("/login", headers=forwarded)
    response = login(proxied, "maya", headers=forwarded)
    assert "Secure" in _session_cookie(response)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert _audit(web)[-1].detail == "from 198.51.100.7"
    assert _sessions(web)[-1].client_address == "198.51.100.7"


def _logged_in_client(web):
    client = _client(web)
    login(client, "maya")
    return client


def test_security_headers_on_every_kind_of_response(web):
    client = _logged_in_client(web)
    responses = {
        "/": client.get("/"),
        "/login": client.get("/login"),
        "page": client.get(PAGE),
        "layout": client.get(DASH_LAYOUT),
        "update": client.post(
            "/_dash-update-component", json=grid_payload({"startRow": 0, "endRow": 5})
        ),
        "refused": client.post("/_dash-update-component", json={}, headers=FOREIGN),
        "healthz": client.get("/healthz"),
        "asset": client.get("/assets/certpush.css"),
        "public asset": _client(web).get("/assets/vendor/bootstrap/bootstrap.min.css"),
        "api": client.get(API),
        "anonymous api": _client(web).get(API),
        "missing": client.get("/no-such-page.txt"),
    }
    assert [responses[n].status_code for n in ("api", "asset", "update")] == [200] * 3
    assert responses["refused"].status_code == 403
    for name, response in responses.items():
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert csp.startswith("default-src 'self'; script-src 'self' 'sha256-"), name
        assert "'unsafe-inline'" not in csp.split("; ")[1], name  # never for scripts
        assert "unsafe-eval" not in csp, name
        for directive in (
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
        ):
            assert directive in csp, (name, directive)
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["Referrer-Policy"] == "same-origin", name
        assert "Strict-Transport-Security" not in headers, name


def test_hsts_only_over_https(web):
    client = _https_client(web)
    assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in _client(web).get("/login").headers


def test_every_inline_script_of_the_dash_page_is_allowed_by_hash(web):
    response = _logged_in_client(web).get("/")
    csp = response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    html = re.sub(r"<!--.*?-->", "", html, flags=re.S)  # the IE notice is a comment
    inline = [
        body
        for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        if body.strip() and "application/json" not in attributes
    ]
    assert len(inline) >= 2  # the renderer start, and Dash Pages' title callback
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_the_login_page_has_no_inline_style_or_script(web):
    html = _client(web).get("/login").get_data(as_text=True)
    assert "style=" not in html and "<style" not in html and "<script" not in html
