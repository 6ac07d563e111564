"""User administration and the command line proving who acts.

Through the CLI (a separate process on a real SQLite instance), the Users page's callbacks
as a logged-in admin or a forging operator, and the web login itself.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from tests.cli_auth import stdin_for
from tests.dash_calls import ActingAs

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "another long passphrase 42"
USERS = {"root": "admin", "adam": "admin", "olivia": "operator", "ravi": "reviewer"}


@pytest.fixture
def cli(tmp_path):
    env = {**os.environ, "CERTPUSH_INSTANCE": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    passwords = dict.fromkeys(USERS, PASSWORD)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env,
                              input=stdin_for(args, passwords, stdin), capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip

    assert run("db", "upgrade").returncode == 0
    for name, role in USERS.items():
        made = run("users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD)
        assert made.returncode == 0, made.stderr
    run.db = create_engine(f"sqlite:///{tmp_path / 'instance' / 'certpush.db'}")
    run.passwords = passwords
    return run


def _audit(db, action: str) -> list[tuple]:
    with db.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT actor, target, detail FROM audit_events WHERE action = :a ORDER BY id"),
            {"a": action})]  # fmt: skip


def test_as_needs_the_password_and_the_audit_names_both_identities(cli):
    cli.passwords["ravi"] = "not ravi's password"
    refused = cli("policy", "set", "Approve:reviewer", "Implement:implementer", "--as", "ravi")
    assert refused.returncode == 1 and "wrong user name or password" in refused.stderr
    assert _audit(cli.db, "cli.login.failed")[-1][1] == "ravi"
    cli.passwords["ravi"] = PASSWORD
    listed = cli("users", "sign-out", "ravi", "--as", "ravi")  # users may sign themselves out
    assert listed.returncode == 0, listed.stderr
    actor, target, detail = _audit(cli.db, "cli.authenticated")[-1]
    os_user = getpass.getuser()
    assert (actor, target) == ("ravi", f"cli:{os_user}")
    assert f"operating-system user {os_user}" in detail and "users sign-out" in detail
    # Without --as, the local shell user acts, and says so.
    assert cli("users", "disable", "ravi").returncode == 0
    assert _audit(cli.db, "user.disable")[-1][0] == f"cli:{os_user}"
    disabled = cli("users", "sign-out", "ravi", "--as", "ravi")
    assert disabled.returncode == 1 and "wrong user name or password" in disabled.stderr


def test_users_are_administered_from_the_command_line(cli):
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert {u["username"]: (u["role"], u["enabled"]) for u in listed} == {
        name: (role, True) for name, role in USERS.items()
    }
    assert "hash" not in json.dumps(listed)
    refused = cli("users", "disable", "adam", "--as", "olivia")
    assert refused.returncode == 1 and "admins only" in refused.stderr
    assert cli("users", "set-role", "ravi", "implementer", "--as", "adam").returncode == 0
    assert cli("users", "disable", "olivia", "--as", "adam").returncode == 0
    assert cli("users", "enable", "olivia", "--as", "adam").returncode == 0
    short = cli("users", "reset-password", "olivia", "--password-stdin", "--as", "adam",
                stdin="short\n")  # fmt: skip
    assert short.returncode == 1 and "too short" in short.stderr
    reset = cli("users", "reset-password", "olivia", "--password-stdin", "--as", "adam",
                stdin=NEW_PASSWORD + "\n")  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    cli.passwords["olivia"] = NEW_PASSWORD
    assert cli("users", "sign-out", "olivia", "--as", "olivia").returncode == 0
    roles = {u["username"]: u["role"] for u in json.loads(cli("users", "list", "--json").stdout)}
    assert roles["ravi"] == "implementer"
    actions = [a for a in ("user.set_role", "user.disable", "user.enable", "user.reset_password",
                           "user.sign_out") if _audit(cli.db, a)]  # fmt: skip
    assert len(actions) == 5
    assert "reviewer -> implementer" in _audit(cli.db, "user.set_role")[-1][2]


def test_the_last_enabled_admin_stays(cli):
    assert cli("users", "disable", "root", "--as", "adam").returncode == 0
    last = cli("users", "disable", "adam", "--as", "adam")
    assert last.returncode == 1 and "last enabled admin" in last.stderr
    demoted = cli("users", "set-role", "adam", "operator")
    assert demoted.returncode == 1 and "last enabled admin" in demoted.stderr
    assert cli("users", "enable", "root", "--as", "adam").returncode == 0
    assert cli("users", "set-role", "adam", "operator", "--as", "root").returncode == 0


# ------------------------------------------------------------------ the Users page


@pytest.fixture
def web(sqlite_settings):
    from dashboard.app import app
    from data.db import session_scope
    from data.users import add_user
    from tests.conftest import NOW

    with session_scope(sqlite_settings.database_url) as db:
        for name, role in USERS.items():
            add_user(db, name, role, PASSWORD, NOW)
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def test_the_users_page_is_for_admins_and_its_actions_end_sessions(web):
    from dashboard import ids
    from dashboard.callbacks.users import user_rows

    with ActingAs(web, "olivia", PASSWORD):
        assert user_rows(None, "/users") == []  # no list for an operator
    forger = web.test_client()
    _login(forger, "olivia")
    forged = _dash_post(forger, ids.USERS_DISABLE, {ids.USERS_GRID: [{"username": "root"}]})
    assert "Refused" in forged.get_data(as_text=True)  # a forged click changes nothing
    victim = web.test_client()
    _login(victim, "ravi")
    assert victim.get("/workorders").status_code == 200
    admin = web.test_client()
    _login(admin, "adam")
    with ActingAs(web, "adam", PASSWORD):
        assert {r["username"] for r in user_rows(None, "/users")} == set(USERS)
    done = _dash_post(admin, ids.USERS_DISABLE, {ids.USERS_GRID: [{"username": "ravi"}]})
    assert "ravi disabled" in done.get_data(as_text=True)
    assert victim.get("/workorders").status_code in (302, 401)  # the session ended at once
    chosen = {ids.USERS_GRID: [{"username": "olivia"}], ids.USERS_ROLE: "manager"}
    role = _dash_post(admin, ids.USERS_SET_ROLE, chosen)
    assert "olivia is now manager" in role.get_data(as_text=True)
    with create_engine(web.config["CERTPUSH_SETTINGS"].database_url).connect() as c:
        assert c.execute(text("SELECT role FROM users WHERE username = 'olivia'")).scalar() == (
            "manager"
        )


def _login(client, username: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf": token, "next": "/"})  # fmt: skip
    assert done.status_code == 302, done.get_data(as_text=True)[:300]


def _dash_post(client, input_id: str, state: dict[str, object]):
    """POST the callback triggered by ``input_id``.n_clicks, as the browser (or a forger)."""
    from dashboard.app import app

    client.get("/healthz")  # Dash registers its callbacks before the first request
    [(key, spec)] = [
        (k, v) for k, v in app.callback_map.items()
        if {"id": input_id, "property": "n_clicks"} in v["inputs"]
    ]  # fmt: skip
    outputs = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
    payload = {
        "output": key,
        "outputs": [{"id": o.component_id, "property": o.component_property} for o in outputs],
        "inputs": [dict(i, value=1 if i["id"] == input_id else None) for i in spec["inputs"]],
        "state": [dict(s, value=state.get(s["id"])) for s in spec["state"]],
        "changedPropIds": [f"{input_id}.n_clicks"],
    }
    return client.post("/_dash-update-component", json=payload)
