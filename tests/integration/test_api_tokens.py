"""API tokens and service users: ``certpush tokens`` and ``users add --service`` (a separate
process on a real database), the checks a token gets on each call, the login refusing
service users, and the API tokens page's callbacks as a logged-in user.

The secret must appear exactly once, where it is made: never in a list, the api_tokens
table or the audit trail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from data.api_tokens import authenticate_token, create_token, list_tokens
from data.db import session_scope
from data.domain.api_tokens import looks_like_token, public_id
from data.domain.errors import AuthError
from data.user_admin import set_enabled
from data.users import add_user
from tests.cli_auth import stdin_for
from tests.dash_calls import ActingAs, component_text

PASSWORD = "correct horse battery staple"
USERS = {"adam": "admin", "olivia": "operator", "ravi": "reviewer"}


def _now() -> datetime:
    return datetime.now(UTC)


def _add_users(url: str) -> None:
    with session_scope(url) as db:
        for name, role in USERS.items():
            add_user(db, name, role, PASSWORD, _now())


def _secret(token: str) -> str:
    """The part after the second underscore: what must never be stored or shown again."""
    return token.split("_", 2)[2]


def _rows(url: str, table: str) -> list[tuple]:
    with create_engine(url).connect() as c:
        return [tuple(r) for r in c.execute(text(f"SELECT * FROM {table}"))]


def assert_stored_nowhere(url: str, token: str) -> None:
    """Every column of every row of api_tokens and audit_events, searched for the secret."""
    secret = _secret(token)
    for table in ("api_tokens", "audit_events"):
        rows = _rows(url, table)
        assert rows, table
        for row in rows:
            for value in row:
                assert secret not in str(value), (table, row)
                assert token not in str(value), (table, row)


def _audit(url: str, action: str) -> list[tuple]:
    with create_engine(url).connect() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT actor, target, detail FROM audit_events WHERE action = :a ORDER BY id"),
            {"a": action})]  # fmt: skip


@pytest.fixture
def cli(settings, tmp_path):
    """``certpush …`` in its own process on the test's database (SQLite and PostgreSQL)."""
    url = settings.database_url
    env = {**os.environ, "CERTPUSH_INSTANCE": str(tmp_path / "cli"), "DATABASE_URL": url}
    passwords = dict.fromkeys(USERS, PASSWORD)
    _add_users(url)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env,
                              input=stdin_for(args, passwords, stdin), capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip

    run.url = url
    run.passwords = passwords
    return run


def _listed(cli, *args: str) -> list[dict]:
    done = cli("tokens", "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def web(settings):
    from dashboard.app import app

    _add_users(settings.database_url)
    with session_scope(settings.database_url) as db:
        add_user(db, "pipeline", "operator", None, _now(), service=True)
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = settings
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def _login(client, username: str, password: str = PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf": token, "next": "/"})  # fmt: skip


# ------------------------------------------------------------------ the command line


def test_a_token_is_printed_once_and_stored_only_as_a_hash(cli):
    made = cli("tokens", "create", "--user", "olivia", "--name", "ci pipeline", "--scope",
               "write", "--expires", "30d")  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert made.stdout == token + "\n" and looks_like_token(token)  # the token alone
    assert "will not be shown again" in made.stderr and public_id(token) in made.stderr
    assert _secret(token) not in made.stderr

    as_json = cli("tokens", "create", "--user", "olivia", "--name", "nightly", "--json")
    assert as_json.returncode == 0, as_json.stderr
    second = json.loads(as_json.stdout)
    assert looks_like_token(second["token"]) and second["token"] != token
    assert second["prefix"] == public_id(second["token"])
    assert (second["user"], second["scope"], second["state"]) == ("olivia", "read", "active")
    created = datetime.fromisoformat(second["created_at"])
    expires = datetime.fromisoformat(second["expires_at"])
    assert expires - created == timedelta(days=90)  # the default lifetime

    listed = cli("tokens", "list")
    as_list = _listed(cli)
    for shown in (listed.stdout, json.dumps(as_list)):
        assert public_id(token) in shown and "ci pipeline" in shown
        for secret in (token, second["token"]):
            assert _secret(secret) not in shown
    assert "digest" not in as_list[0] and "token" not in as_list[0]
    first = next(t for t in as_list if t["prefix"] == public_id(token))
    assert (first["user"], first["name"], first["scope"], first["state"]) == (
        "olivia", "ci pipeline", "write", "active",
    )  # fmt: skip
    lifetime = datetime.fromisoformat(first["expires_at"]) - datetime.fromisoformat(
        first["created_at"]
    )
    assert lifetime == timedelta(days=30)

    with session_scope(cli.url) as db:
        caller = authenticate_token(db, token, now=_now())
    assert (caller.user.username, caller.scope.value) == ("olivia", "write")
    assert _listed(cli, "--user", "olivia")[-1]["last_used_at"] is not None
    for secret in (token, second["token"]):
        assert_stored_nowhere(cli.url, secret)
    actor, target, detail = _audit(cli.url, "token.create")[0]
    assert actor.startswith("cli") and target == "olivia" and public_id(token) in detail


def test_a_revoked_token_is_refused_at_once_and_listed_as_revoked(cli):
    made = json.loads(cli("tokens", "create", "--user", "ravi", "--name", "tickets",
                          "--json").stdout)  # fmt: skip
    revoked = cli("tokens", "revoke", str(made["id"]))
    assert revoked.returncode == 0, revoked.stderr
    assert f"{made['prefix']} ('tickets') of ravi revoked" in revoked.stdout
    again = cli("tokens", "revoke", str(made["id"]))
    assert again.returncode == 0 and "already revoked" in again.stdout
    [row] = _listed(cli, "--user", "ravi")
    assert row["state"] == "revoked" and row["revoked_at"]
    with session_scope(cli.url) as db, pytest.raises(AuthError, match="revoked"):
        authenticate_token(db, made["token"], now=_now())
    assert len(_audit(cli.url, "token.revoke")) == 1
    missing = cli("tokens", "revoke", "999999")
    assert missing.returncode == 1 and "no API token 999999" in missing.stderr
    assert_stored_nowhere(cli.url, made["token"])


def test_expired_tokens_are_listed_as_expired_and_refused(cli):
    long_ago = _now() - timedelta(days=2)
    with session_scope(cli.url) as db:
        _info, token = create_token(db, "olivia", "old job", lifetime=timedelta(hours=1),
                                    actor="adam", actor_role="admin", now=long_ago)  # fmt: skip
    [row] = _listed(cli, "--user", "olivia")
    assert row["state"] == "expired"
    plain = cli("tokens", "list", "--user", "olivia").stdout
    assert re.search(rf"{public_id(token)}\s+expired\s+read\s+olivia", plain), plain
    with session_scope(cli.url) as db, pytest.raises(AuthError, match="expired"):
        authenticate_token(db, token, now=_now())
    assert cli("tokens", "list", "--user", "ravi").stdout == ""  # nobody else's


def test_with_as_users_manage_only_their_own_tokens_admins_everyone(cli):
    other = cli("tokens", "create", "--user", "ravi", "--name", "x", "--as", "olivia")
    assert other.returncode == 1 and "olivia may manage only their own" in other.stderr
    own = cli("tokens", "create", "--name", "laptop", "--as", "olivia", "--json")
    assert own.returncode == 0, own.stderr
    mine = json.loads(own.stdout)
    assert (mine["user"], mine["created_by"]) == ("olivia", "olivia")
    by_admin = cli("tokens", "create", "--user", "ravi", "--name", "x", "--as", "adam", "--json")
    assert by_admin.returncode == 0, by_admin.stderr
    ravis = json.loads(by_admin.stdout)
    assert (ravis["user"], ravis["created_by"]) == ("ravi", "adam")
    refused = cli("tokens", "revoke", str(ravis["id"]), "--as", "olivia")
    assert refused.returncode == 1 and "only their own" in refused.stderr
    assert _listed(cli, "--user", "ravi")[0]["state"] == "active"
    assert cli("tokens", "revoke", str(mine["id"]), "--as", "olivia").returncode == 0
    assert cli("tokens", "revoke", str(ravis["id"]), "--as", "adam").returncode == 0
    assert {t["state"] for t in _listed(cli)} == {"revoked"}
    cli.passwords["olivia"] = "not olivia's password"
    wrong = cli("tokens", "create", "--name", "y", "--as", "olivia")
    assert wrong.returncode == 1 and "wrong user name or password" in wrong.stderr
    assert _audit(cli.url, "cli.login.failed")[-1][1] == "olivia"
    nobody = cli("tokens", "create", "--name", "y")
    assert nobody.returncode == 1 and "--user NAME" in nobody.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--expires", "9000d"], "at most 730 days"),
        (["--expires", "soon"], "write a number and d, h or w"),
        (["--scope", "admin"], "use read or write"),
        (["--name", "a;b"], "1-64 letters"),
        (["--user", "nobody"], "no user named 'nobody'"),
    ],
)
def test_a_bad_request_says_why_and_stores_nothing(cli, args, says):
    options = {"--user": "olivia", "--name": "ok", **dict(zip(args[::2], args[1::2], strict=True))}
    done = cli("tokens", "create", *[word for option in options.items() for word in option])
    assert done.returncode == 1 and says in done.stderr, done.stderr
    assert done.stdout == "" and _listed(cli) == []


def test_a_disabled_users_token_is_refused_until_they_are_enabled(settings):
    url = settings.database_url
    _add_users(url)
    with session_scope(url) as db:
        _info, token = create_token(db, "ravi", "tickets", scope="write", actor="ravi",
                                    actor_role="reviewer", now=_now())  # fmt: skip
    with session_scope(url) as db:
        assert authenticate_token(db, token, now=_now()).user.username == "ravi"
        set_enabled(db, "ravi", False, actor="adam", role="admin", now=_now())
    with session_scope(url) as db, pytest.raises(AuthError, match="user of this API token is"):
        authenticate_token(db, token, now=_now())
    with session_scope(url) as db:
        set_enabled(db, "ravi", True, actor="adam", role="admin", now=_now())
    with session_scope(url) as db:
        assert authenticate_token(db, token, now=_now()).scope.value == "write"
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), token + "\n", "cpt_x"):
        with session_scope(url) as db, pytest.raises(AuthError):
            authenticate_token(db, forged, now=_now())


# ------------------------------------------------------------------ service users


def test_a_service_user_has_no_password_and_acts_through_tokens_only(cli):
    made = cli("users", "add", "pipeline", "--role", "implementer", "--service")
    assert made.returncode == 0, made.stderr
    assert "added service user pipeline with role implementer" in made.stdout
    both = cli("users", "add", "other", "--role", "operator", "--service", "--password-stdin",
               stdin=PASSWORD + "\n")  # fmt: skip
    assert both.returncode == 1 and "has no password" in both.stderr
    listed = {u["username"]: u for u in json.loads(cli("users", "list", "--json").stdout)}
    assert "other" not in listed
    assert (listed["pipeline"]["service"], listed["olivia"]["service"]) == (True, False)
    assert re.search(r"^pipeline\s+implementer\s+enabled\s+service user$",
                     cli("users", "list").stdout, re.MULTILINE)  # fmt: skip
    with create_engine(cli.url).connect() as c:
        stored = c.execute(text("SELECT password_hash, service FROM users "
                                "WHERE username = 'pipeline'")).one()  # fmt: skip
    assert stored[0] == "!service" and stored[1]

    token = cli("tokens", "create", "--user", "pipeline", "--name", "deploys").stdout.strip()
    with session_scope(cli.url) as db:
        caller = authenticate_token(db, token, now=_now())
    assert (caller.user.username, caller.user.role.value) == ("pipeline", "implementer")

    for guess in ("!service", PASSWORD):
        cli.passwords["pipeline"] = guess
        as_service = cli("tokens", "create", "--name", "x", "--as", "pipeline")
        assert as_service.returncode == 1
        assert "--as pipeline: wrong user name or password" in as_service.stderr
    assert [t for t in _audit(cli.url, "cli.login.failed") if t[1] == "pipeline"]
    reset = cli("users", "reset-password", "pipeline", "--password-stdin", stdin=PASSWORD + "\n")
    assert reset.returncode == 1 and "is a service user" in reset.stderr


def test_a_service_user_is_refused_at_login_like_a_wrong_password(settings):
    from data.logins import begin_login, finish_login
    from data.users import authenticate

    with session_scope(settings.database_url) as db:
        add_user(db, "pipeline", "admin", None, _now(), service=True)
        add_user(db, "olivia", "operator", PASSWORD, _now())
    for name, password in [("pipeline", "!service"), ("pipeline", ""), ("nobody", "x" * 12)]:
        with session_scope(settings.database_url) as db, pytest.raises(AuthError) as refused:
            authenticate(db, name, password)
        assert str(refused.value) == "wrong user name or password"
        policy = settings.throttle_policy
        with session_scope(settings.database_url) as db:
            attempt = begin_login(db, username=name, address="192.0.2.7", now=_now(),
                                  policy=policy)  # fmt: skip
        with session_scope(settings.database_url) as db:
            result = finish_login(db, attempt, password, user_agent="test", now=_now(),
                                  policy=policy)  # fmt: skip
        assert (result.user, result.token) == (None, None)
        assert result.message == "wrong user name or password"
    with session_scope(settings.database_url) as db:
        assert authenticate(db, "olivia", PASSWORD).username == "olivia"  # others still can


def test_a_service_user_cannot_log_in_on_the_login_page(web):
    for password in ("", "!service", PASSWORD):
        refused = _login(web.test_client(), "pipeline", password)
        assert refused.status_code == 401
        assert "wrong user name or password" in refused.get_data(as_text=True)
    assert _login(web.test_client(), "olivia").status_code == 302


# ------------------------------------------------------------------ the API tokens page


def _table(web, who: str) -> str:
    from dashboard.callbacks.tokens import token_rows

    with ActingAs(web, who, PASSWORD):
        return component_text(token_rows(None, "/tokens"))


def test_the_page_makes_a_token_and_shows_its_secret_once(web):
    from dashboard.callbacks.tokens import create_own_token

    with ActingAs(web, "olivia", PASSWORD):
        secret, shown, message, error_open, name, refresh = create_own_token(
            1, "laptop", "write", "365d"
        )
    assert looks_like_token(secret) and shown is True
    assert (message, error_open, name) == ("", False, "")  # the name field is cleared
    assert refresh["created"]
    table = _table(web, "olivia")
    assert "laptop" in table and public_id(secret) in table and "write" in table
    assert _secret(secret) not in table
    with session_scope(web.config["CERTPUSH_SETTINGS"].database_url) as db:
        [info] = list_tokens(db, "olivia")
        caller = authenticate_token(db, secret, now=_now())
    assert (info.created_by, caller.user.username, caller.scope.value) == (
        "olivia", "olivia", "write",
    )  # fmt: skip
    assert info.expires_at - info.created_at == timedelta(days=365)
    assert_stored_nowhere(web.config["CERTPUSH_SETTINGS"].database_url, secret)
    assert _secret(secret) not in _table(web, "olivia")  # nor on any later render

    with ActingAs(web, "olivia", PASSWORD):
        bad = create_own_token(1, "a;b", "read", "90d")
        never = create_own_token(1, "forever", "read", "never")
        unclicked = create_own_token(None, "x", "read", "90d")
    assert bad[:4] == ("", False, bad[2], True) and "1-64 letters" in bad[2]
    assert looks_like_token(never[0])
    assert all(x is unclicked[0] for x in unclicked)  # no_update: nothing made
    with ActingAs(web, None, ""):
        anonymous = create_own_token(1, "sneaky", "write", "never")
    assert anonymous[:2] == ("", False) and "log in" in anonymous[2]
    with session_scope(web.config["CERTPUSH_SETTINGS"].database_url) as db:
        assert sorted(t.name for t in list_tokens(db)) == ["forever", "laptop"]
        assert next(t for t in list_tokens(db) if t.name == "forever").expires_at is None


def test_the_page_lists_only_the_acting_users_tokens(web):
    url = web.config["CERTPUSH_SETTINGS"].database_url
    with session_scope(url) as db:
        for owner, name in [("olivia", "olivia-ci"), ("adam", "adam-admin"), ("ravi", "ravi-t")]:
            create_token(db, owner, name, actor="adam", actor_role="admin", now=_now())
    olivias, adams = _table(web, "olivia"), _table(web, "adam")
    assert "olivia-ci" in olivias and "adam-admin" not in olivias and "ravi-t" not in olivias
    assert "adam-admin" in adams and "olivia-ci" not in adams  # admins too: their own only
    assert "ravi-t" in _table(web, "ravi")
    with ActingAs(web, None, ""):
        from dashboard.callbacks.tokens import token_rows

        assert "log in" in component_text(token_rows(None, "/tokens"))


def test_revoking_another_users_token_from_the_page_is_refused(web):
    from dashboard.callbacks.tokens import revoke_own_token

    url = web.config["CERTPUSH_SETTINGS"].database_url
    with session_scope(url) as db:
        ravis, _ = create_token(db, "ravi", "tickets", actor="ravi", actor_role="reviewer",
                                now=_now())  # fmt: skip
        mine, _ = create_token(db, "olivia", "laptop", actor="olivia", actor_role="operator",
                               now=_now())  # fmt: skip
    with ActingAs(web, "olivia", PASSWORD):
        said, colour, _shown, refresh = revoke_own_token(ravis.id)
    assert colour == "danger" and "Refused" in said and "only their own" in said
    assert refresh is not None and not isinstance(refresh, dict)  # no_update
    with session_scope(url) as db:
        states = {t.name: t.state(_now()) for t in list_tokens(db)}
    assert states == {"tickets": "active", "laptop": "active"}
    actor, target, _detail = _audit(url, "token.revoke.refused")[-1]
    assert (actor, target) == ("olivia", f"token {ravis.id}")

    with ActingAs(web, "olivia", PASSWORD):
        said, colour, _shown, refresh = revoke_own_token(mine.id)
        garbled = revoke_own_token("1; DROP TABLE api_tokens")
    assert colour == "success" and mine.prefix in said and refresh["revoked"] == mine.id
    assert garbled[1] == "danger"
    with session_scope(url) as db:
        states = {t.name: t.state(_now()) for t in list_tokens(db)}
    assert states == {"tickets": "active", "laptop": "revoked"}
    assert "Revoke" not in _table(web, "olivia")  # nothing left to revoke


def _revoke_post(client, token_id: int):
    """The confirmed Revoke of one row, POSTed as the browser (or a forger) sends it."""
    from dashboard import ids
    from dashboard.app import app

    client.get("/healthz")  # Dash registers its callbacks before the first request
    [(key, spec)] = [
        (k, v) for k, v in app.callback_map.items()
        if any(ids.TOKENS_REVOKE in i["id"] for i in v["inputs"])
    ]  # fmt: skip
    button = ids.token_revoke(token_id)
    payload = {
        "output": key,
        "outputs": [
            {"id": o.component_id, "property": o.component_property} for o in spec["output"]
        ],
        "inputs": [[{"id": button, "property": "submit_n_clicks", "value": 1}]],
        "state": [],
        "changedPropIds": [
            json.dumps(button, sort_keys=True, separators=(",", ":")) + ".submit_n_clicks"
        ],
    }
    return client.post("/_dash-update-component", json=payload)


def test_a_forged_revoke_through_dash_changes_nothing(web):
    url = web.config["CERTPUSH_SETTINGS"].database_url
    with session_scope(url) as db:
        ravis, _ = create_token(db, "ravi", "tickets", actor="ravi", actor_role="reviewer",
                                now=_now())  # fmt: skip
        mine, _ = create_token(db, "olivia", "laptop", actor="olivia", actor_role="operator",
                               now=_now())  # fmt: skip
    client = web.test_client()
    assert _login(client, "olivia").status_code == 302
    forged = _revoke_post(client, ravis.id)
    assert forged.status_code == 200 and "Refused" in forged.get_data(as_text=True)
    done = _revoke_post(client, mine.id)
    assert "Revoked" in done.get_data(as_text=True)
    with session_scope(url) as db:
        states = {t.name: t.state(_now()) for t in list_tokens(db)}
    assert states == {"tickets": "active", "laptop": "revoked"}
    anonymous = _revoke_post(web.test_client(), mine.id)
    assert anonymous.status_code == 401


def test_the_account_menu_links_to_the_page():
    from dashboard import ids
    from dashboard.components.navbar import navbar

    bar = component_text(navbar("csrf"))
    assert ids.NAV_TOKENS in bar and '"href": "/tokens"' in bar
