"""Maintenance windows from the connector settings to the approval flow: through
``data.connectors``, ``data.workorders.act``, the CLI and the Implement dialog.

``now`` is injected everywhere it can be (the services and the web callbacks take it);
the CLI reads the wall clock, so its test lays the windows out from the clock it reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from data.connectors import (
    add_connector,
    bind,
    bound_connectors,
    connector_windows,
    get_connector,
    update_connector,
)
from data.db import session_scope
from data.domain.connector_specs import ConnectorConfigError
from data.domain.windows import fits, next_opening
from data.domain.workflow import Action, Actor, WorkOrderStatus
from data.importer import import_paths
from data.models import AuditEvent, WorkOrder
from data.users import add_user
from data.workorders import act, claim_due, get_work_order, history, request_push, work_order_detail
from tests import certs as c
from tests.cli_auth import stdin_for
from tests.dash_calls import ActingAs, component_text

OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
INES = Actor("ines", "implementer")
ADAM = Actor("adam", "admin")
S = WorkOrderStatus
PARIS = "Tue,Thu 22:00-02:00 Europe/Paris"
# Friday 2026-10-23, two days before Paris falls back from CEST to CET.
FRIDAY = datetime(2026, 10, 23, 12, 0, tzinfo=UTC)
# The next Tuesday 22:00 in Paris is already CET (UTC+1): 21:00 UTC, not 20:00.
NEXT_OPENING = datetime(2026, 10, 27, 21, 0, tzinfo=UTC)
NEXT_OPENING_TEXT = "Tue 2026-10-27 22:00 Europe/Paris (21:00 UTC)"


def _certificate(tmp_path, name: str = "windows.example") -> tuple[list, str]:
    """A certificate and its key, valid long before and after every instant used here."""
    cert, key = c.make_cert(
        name,
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime(2045, 1, 1, tzinfo=UTC),
    )
    folder = tmp_path / "inventory"
    folder.mkdir(exist_ok=True)
    (folder / "c.pem").write_bytes(c.pem(cert))
    (folder / "c.key").write_bytes(c.key_pem(key))
    return [folder / "c.pem", folder / "c.key"], cert.fingerprint(c.hashes.SHA256()).hex()


def _local(tmp_path, name: str) -> dict:
    return {"profile": "test-files", "cert_path": str(tmp_path / f"{name}.crt"),
            "key_path": str(tmp_path / f"{name}.key")}  # fmt: skip


def setup(settings, vault, tmp_path, windows: str = PARIS, now: datetime = FRIDAY) -> str:
    """Connector ``dev`` (with ``windows``) bound to a certificate with its key."""
    files, fingerprint = _certificate(tmp_path)
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, files, now=now, actor="t")
        add_connector(db, vault, name="dev", type_name="local", settings=_local(tmp_path, "dev"),
                      actor="t", role="admin", now=now, windows=windows)  # fmt: skip
        bind(db, "dev", fingerprint, actor="t", now=now)
    return fingerprint


def approved(settings, fingerprint: str, now: datetime = FRIDAY) -> int:
    """A work order through dev, approved and waiting for Implement."""
    with session_scope(settings.database_url) as db:
        _, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now, comment="renewal")
        assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now, comment="ok").ok
    return wo.id


def audits(settings, action: str) -> list[str]:
    with session_scope(settings.database_url) as db:
        return list(db.scalars(select(AuditEvent.detail).where(AuditEvent.action == action)))


# ----------------------------------------------------------------------------- connectors


def test_connector_windows_are_validated_stored_canonically_and_shown(settings, vault, tmp_path):
    files, fingerprint = _certificate(tmp_path)
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, files, now=FRIDAY, actor="t")
        info = add_connector(
            db, vault, name="dev", type_name="local", settings=_local(tmp_path, "dev"),
            actor="t", role="admin", now=FRIDAY,
            windows=["thu,tue 22:00 - 02:00 Europe/Paris", "sat 10:00-11:00 UTC"],
        )  # fmt: skip
        assert info.windows == "Tue,Thu 22:00-02:00 Europe/Paris\nSat 10:00-11:00 UTC"
        assert (info.auto_rollback, info.canary) == (True, False)
        shown = info.to_json()
        assert shown["windows"] == ["Tue,Thu 22:00-02:00 Europe/Paris", "Sat 10:00-11:00 UTC"]
        assert (shown["auto_rollback"], shown["canary"]) == (True, False)
        bind(db, "dev", fingerprint, actor="t", now=FRIDAY)
        [view] = bound_connectors(db, _cert_id(db, fingerprint))
        assert view.windows == info.windows  # the topology's connector node reads this
        with pytest.raises(ConnectorConfigError) as caught:
            add_connector(db, vault, name="bad name!", type_name="local",
                          settings=_local(tmp_path, "x"), actor="t", role="admin", now=FRIDAY,
                          windows="Mon 22:00-02:00 UTC\nTues 22:00-02:00 UTC")  # fmt: skip
        assert caught.value.errors["windows"] == "line 2: 'Tues' is not a day (Mon..Sun, or daily)"
        assert "name" in caught.value.errors  # every field's problem is said at once


def _cert_id(db, fingerprint: str) -> int:
    from data.connectors import certificate_by_fingerprint

    return certificate_by_fingerprint(db, fingerprint).id


def test_changing_windows_keeps_the_approvals_and_is_audited(settings, vault, tmp_path):
    """Windows, rollback and canary are not in the push plan: approvals stand."""
    fingerprint = setup(settings, vault, tmp_path)
    wo_id = approved(settings, fingerprint)
    with session_scope(settings.database_url) as db:
        info, voided = update_connector(
            db, vault, "dev", actor="t", role="admin", now=FRIDAY,
            windows=["Mon-Fri 09:00-17:00 Europe/Paris"], auto_rollback=False, canary=True,
        )  # fmt: skip
        assert voided == []
        assert info.windows == "Mon-Fri 09:00-17:00 Europe/Paris"
        assert (info.auto_rollback, info.canary) == (False, True)
        assert get_work_order(db, wo_id).status is S.REVIEW_IN_PROGRESS
        with pytest.raises(ConnectorConfigError, match="windows: line 1: 'Europe/Pari' is not"):
            update_connector(db, vault, "dev", actor="t", role="admin", now=FRIDAY,
                             windows="Mon 09:00-17:00 Europe/Pari")  # fmt: skip
        cleared, _ = update_connector(db, vault, "dev", actor="t", role="admin", now=FRIDAY,
                                      windows="")  # fmt: skip
        assert cleared.windows == "" and get_connector(db, "dev").to_json()["windows"] == []
    [changed, cleared_detail] = audits(settings, "connector.update")
    assert changed.startswith("changed maintenance windows, automatic rollback, canary;")
    assert "maintenance windows Mon-Fri 09:00-17:00 Europe/Paris" in changed
    assert "maintenance windows any time" in cleared_detail


# ----------------------------------------------------------------------------- act()


def test_implement_now_outside_the_windows_waits_for_the_next_opening_across_dst(
    settings, vault, tmp_path
):
    """Friday before the October change: the push is scheduled at Tuesday 22:00 Paris
    time, which is CET by then (21:00 UTC), and the scheduler starts it only then."""
    fingerprint = setup(settings, vault, tmp_path)
    wo_id = approved(settings, fingerprint)
    with session_scope(settings.database_url) as db:
        result = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=FRIDAY, comment="go")
        assert result.ok, result.message
        said = (f"outside the maintenance windows of dev ({PARIS}): scheduled at the next "
                f"opening, {NEXT_OPENING_TEXT}")  # fmt: skip
        assert result.message == f"WO-{wo_id:06d} is now Push-Scheduled: {said}"
        view = get_work_order(db, wo_id)
        assert view.status is S.SCHEDULED and view.run_at == NEXT_OPENING
        assert history(db, wo_id)[-1].comment == (f"go (push at 2026-10-27 21:00 UTC); {said}")
        due = dict(owner="s", grace=timedelta(minutes=5), lease=timedelta(minutes=5), limit=9)
        assert claim_due(db, now=NEXT_OPENING - timedelta(seconds=1), **due) == []
        assert claim_due(db, now=NEXT_OPENING, **due) == [wo_id]
    assert any(said in d for d in audits(settings, "workorder.implement"))


def test_implement_now_inside_a_window_pushes_now(settings, vault, tmp_path):
    thursday_night = datetime(2026, 10, 22, 21, 30, tzinfo=UTC)  # 23:30 CEST
    fingerprint = setup(settings, vault, tmp_path, now=thursday_night)
    wo_id = approved(settings, fingerprint, now=thursday_night)
    with session_scope(settings.database_url) as db:
        result = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=thursday_night)
        assert result.ok and result.message == f"WO-{wo_id:06d} is now Push In Progress"


def test_without_windows_any_time_will_do(settings, vault, tmp_path):
    fingerprint = setup(settings, vault, tmp_path, windows="")
    wo_id = approved(settings, fingerprint)
    with session_scope(settings.database_url) as db:
        result = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=FRIDAY)
        assert result.ok and result.work_order.status is S.PUSH_IN_PROGRESS


def test_a_schedule_outside_the_windows_is_refused_with_the_next_opening(settings, vault, tmp_path):
    fingerprint = setup(settings, vault, tmp_path)
    wo_id = approved(settings, fingerprint)
    label = f"WO-{wo_id:06d}"
    saturday = datetime(2026, 10, 24, 10, 0, tzinfo=UTC)
    with session_scope(settings.database_url) as db:
        refused = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=FRIDAY, manual=False,
                      at=saturday)  # fmt: skip
        assert not refused.ok
        assert refused.message == (
            f"{label}: the push time 2026-10-24 10:00 UTC is outside the maintenance windows "
            f"of dev ({PARIS}); the next opening is {NEXT_OPENING_TEXT}: choose a time inside "
            "a window (an admin may override with a reason)"
        )
        assert get_work_order(db, wo_id).status is S.REVIEW_IN_PROGRESS  # nothing changed
        inside = NEXT_OPENING + timedelta(minutes=30)
        scheduled = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=FRIDAY, manual=False,
                        at=inside)  # fmt: skip
        assert scheduled.ok and scheduled.message == f"{label} is now Push-Scheduled"
        assert get_work_order(db, wo_id).run_at == inside
        # Reschedule follows the same rule: Wednesday noon is refused, Thursday night not.
        wednesday = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)
        moved = act(db, wo_id, Action.RESCHEDULE, actor=INES, now=FRIDAY, at=wednesday)
        assert not moved.ok
        assert "the next opening is Thu 2026-10-29 22:00 Europe/Paris (21:00 UTC)" in (
            moved.message
        )
        assert get_work_order(db, wo_id).run_at == inside
        thursday = datetime(2026, 10, 29, 23, 0, tzinfo=UTC)
        assert act(db, wo_id, Action.RESCHEDULE, actor=INES, now=FRIDAY, at=thursday).ok
    assert audits(settings, "workorder.implement.refused") == [refused.message]
    assert audits(settings, "workorder.reschedule.refused") == [moved.message]


def test_an_admin_overrides_the_windows_with_a_reason(settings, vault, tmp_path):
    fingerprint = setup(settings, vault, tmp_path)
    wo_id = approved(settings, fingerprint)
    saturday = datetime(2026, 10, 24, 10, 0, tzinfo=UTC)
    outside = dict(now=FRIDAY, manual=False, at=saturday)
    with session_scope(settings.database_url) as db:
        by_implementer = act(db, wo_id, Action.IMPLEMENT, actor=INES, **outside,
                             override_window="vendor is on site Saturday")  # fmt: skip
        assert not by_implementer.ok
        assert "only an admin may override the maintenance windows; ines is implementer" in (
            by_implementer.message
        )
        no_reason = act(db, wo_id, Action.IMPLEMENT, actor=ADAM, **outside, override_window=" ")
        assert not no_reason.ok and "needs a reason" in no_reason.message
        _, [pending] = request_push(db, fingerprint, actor=OLIVIA, now=FRIDAY)
        not_here = act(db, pending.id, Action.APPROVE, actor=RAVI, now=FRIDAY, override_window="x")
        assert not not_here.ok and "Implement and Reschedule only" in not_here.message
        done = act(db, wo_id, Action.IMPLEMENT, actor=ADAM, **outside,
                   override_window="vendor is on site Saturday")  # fmt: skip
        assert done.ok, done.message
        said = "maintenance windows overridden by adam: vendor is on site Saturday"
        assert done.message == f"WO-{wo_id:06d} is now Push-Scheduled: {said}"
        assert done.work_order.run_at == saturday
        assert db.get(WorkOrder, wo_id).window_override == "vendor is on site Saturday"
        assert work_order_detail(db, wo_id)["window_override"] == "vendor is on site Saturday"
        assert history(db, wo_id)[-1].comment == f"(push at 2026-10-24 10:00 UTC); {said}"
        # A later reschedule inside a window, without an override, clears it.
        assert act(db, wo_id, Action.RESCHEDULE, actor=INES, now=FRIDAY,
                   at=NEXT_OPENING).ok  # fmt: skip
        assert db.get(WorkOrder, wo_id).window_override is None
    assert audits(settings, "workorder.window_override") == [said]
    refusals = audits(settings, "workorder.implement.refused")
    assert len(refusals) == 2 and "only an admin" in refusals[0]


def test_a_push_that_would_overrun_its_window_does_not_fit(settings, vault, tmp_path):
    """What the scheduler asks before it starts a push (claim_due, issue 13): the stored
    windows, and whether the push finishes before its window closes."""
    setup(settings, vault, tmp_path)
    with session_scope(settings.database_url) as db:
        windows = connector_windows(db, get_connector(db, "dev").id)
    closes = datetime(2026, 10, 28, 1, 0, tzinfo=UTC)  # Wednesday 02:00 CET
    ten_minutes = timedelta(minutes=10)
    assert fits(windows, closes - ten_minutes, ten_minutes)
    assert not fits(windows, closes - ten_minutes + timedelta(seconds=1), ten_minutes)
    assert next_opening(windows, closes - timedelta(minutes=5)) == datetime(
        2026, 10, 29, 21, 0, tzinfo=UTC
    )


def test_the_scheduler_does_not_start_a_push_that_would_overrun_its_window(
    settings, vault, tmp_path
):
    """Scheduled inside Tuesday's window, but it becomes due 5 minutes before the window
    closes, and a push may take its 3-minute timeout plus a 1-minute verification grace
    and more: claim_due does not start it, moves it to Thursday's opening and says why.
    At Thursday's opening it starts. An admin's override lets the same push start late."""
    fingerprint = setup(settings, vault, tmp_path)
    closes = datetime(2026, 10, 28, 1, 0, tzinfo=UTC)  # Wednesday 02:00 CET
    late = closes - timedelta(minutes=3)
    due = dict(owner="s", grace=timedelta(minutes=30), lease=timedelta(minutes=5), limit=9,
               verify_grace=timedelta(seconds=60))  # fmt: skip
    wo_id = approved(settings, fingerprint)
    with session_scope(settings.database_url) as db:
        at = closes - timedelta(minutes=30)
        assert act(db, wo_id, Action.IMPLEMENT, actor=INES, now=FRIDAY, manual=False, at=at).ok
        assert claim_due(db, now=late, **due) == []  # 27 minutes late, within the grace
        view = get_work_order(db, wo_id)
        assert view.status is S.SCHEDULED and view.run_at == datetime(2026, 10, 29, 21, 0,
                                                                          tzinfo=UTC)  # fmt: skip
        assert "could not finish" in view.reason and "Thu 2026-10-29 22:00" in view.reason
        assert history(db, wo_id)[-1].action == "window"
        assert claim_due(db, now=view.run_at, **due) == [wo_id]
    other = approved(settings, fingerprint)
    with session_scope(settings.database_url) as db:
        assert act(db, other, Action.IMPLEMENT, actor=ADAM, now=late, manual=True,
                   override_window="certificate leaked").ok  # fmt: skip
        assert claim_due(db, now=late, **due) == [other]


# ----------------------------------------------------------------------------- the CLI

PASSWORDS = {n: "long-password" for n in ("olivia", "ravi", "ines", "adam")}


@pytest.fixture
def cli(tmp_path):
    env = {**os.environ, "CERTPUSH_INSTANCE": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    env.pop("CERTPUSH_MASTER_KEY", None)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobs.cli", *args],
            input=stdin_for(args, PASSWORDS, stdin),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    return run


@pytest.mark.clock
def test_windows_from_the_command_line(cli, tmp_path):
    """The CLI reads the wall clock: its windows are laid out from the clock read here, on
    the weekday three days ahead (UTC), so now is outside them at any hour and date."""
    now = datetime.now(UTC)
    opening_day = (now + timedelta(days=3)).date()
    weekday = opening_day.strftime("%a")
    window = f"{weekday} 10:00-11:00 UTC"
    opening = f"{weekday} {opening_day:%Y-%m-%d} 10:00 UTC"
    files, fingerprint = _certificate(tmp_path, "cli-windows.example")
    assert cli("db", "upgrade").returncode == 0
    assert cli("keys", "generate").returncode == 0
    assert cli("import", *map(str, files)).returncode == 0
    for name, role in (("olivia", "operator"), ("ravi", "reviewer"), ("ines", "implementer"),
                       ("adam", "admin")):  # fmt: skip
        cli("users", "add", name, "--role", role, "--password-stdin", stdin="long-password\n")
    (tmp_path / "local.json").write_text(json.dumps(_local(tmp_path, "dev")))
    config = ("--type", "local", "--config", str(tmp_path / "local.json"))
    bad = cli("connectors", "add", "dev", *config, "--window", "Tues 10:00-11:00 UTC")
    assert bad.returncode == 1
    assert "error: windows: line 1: 'Tues' is not a day (Mon..Sun, or daily)" in bad.stderr
    more = ("--window", "Sat 23:00-01:00 Europe/Paris", "--no-rollback", "--canary")
    added = cli("connectors", "add", "dev", *config, "--window", window, *more)
    assert added.returncode == 0, added.stderr
    [listed] = json.loads(cli("connectors", "list", "--json").stdout)
    assert listed["windows"] == [window, "Sat 23:00-01:00 Europe/Paris"]
    assert (listed["auto_rollback"], listed["canary"]) == (False, True)
    nothing = cli("connectors", "update", "dev")
    assert nothing.returncode == 1 and "nothing to change" in nothing.stderr
    updated = cli("connectors", "update", "dev", "--window", window)
    assert updated.returncode == 0, updated.stderr
    assert f"maintenance windows: {window}" in updated.stdout
    assert cli("connectors", "bind", "dev", "--cert", fingerprint).returncode == 0

    def approved_work_order() -> str:
        made = cli("push", "request", "--cert", fingerprint, "--as", "olivia", "--json")
        assert made.returncode == 0, made.stderr
        [wo] = json.loads(made.stdout)["work_orders"]
        assert cli("workorders", "approve", wo["id"], "--as", "ravi").returncode == 0
        return wo["id"]

    first = approved_work_order()
    implemented = cli("workorders", "implement", first, "--as", "ines")
    assert implemented.returncode == 0, implemented.stderr
    assert f"is now Push-Scheduled: outside the maintenance windows of dev ({window}): " in (
        implemented.stdout
    )
    assert f"scheduled at the next opening, {opening}" in implemented.stdout
    second = approved_work_order()
    before = (now + timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    at = ("--at", before.isoformat())
    refused = cli("workorders", "implement", second, *at, "--as", "ines")
    assert refused.returncode == 1
    assert f"the next opening is {opening}" in refused.stderr
    denied = cli("workorders", "implement", second, *at, "--as", "ines",
                 "--override-window", "vendor on site")  # fmt: skip
    assert denied.returncode == 1 and "only an admin may override" in denied.stderr
    overridden = cli("workorders", "implement", second, *at, "--as", "adam",
                     "--override-window", "vendor on site")  # fmt: skip
    assert overridden.returncode == 0, overridden.stderr
    assert "maintenance windows overridden by adam: vendor on site" in overridden.stdout
    shown = json.loads(cli("workorders", "show", second, "--json").stdout)
    assert shown["window_override"] == "vendor on site" and shown["status"] == "Push-Scheduled"
    cleared = cli("connectors", "update", "dev", "--window", "")
    assert cleared.returncode == 0 and "maintenance windows: any time" in cleared.stdout


# ----------------------------------------------------------------------------- the dialog

PASSWORD = "correct horse battery"
BERLIN = {"zone": "Europe/Berlin", "offset": -60}
SATURDAY = datetime(2026, 12, 12, 12, 0, tzinfo=UTC)  # 13:00 in Berlin


@pytest.fixture
def web(sqlite_settings, tmp_path):
    """The Flask server on a fresh database: certificate bound to ``anytime`` (no windows)
    and ``paris`` (Tue,Thu 22:00-02:00 Europe/Paris), both approved for Implement."""
    from dashboard.app import app
    from data.crypto import load_vault

    vault = load_vault(sqlite_settings)
    files, fingerprint = _certificate(tmp_path, "shop.example")
    with session_scope(sqlite_settings.database_url) as db:
        for actor in (OLIVIA, RAVI, INES):
            add_user(db, actor.username, actor.role, PASSWORD, SATURDAY)
        import_paths(db, vault, files, now=SATURDAY, actor="t")
        for name, windows in (("anytime", ""), ("paris", PARIS)):
            add_connector(db, vault, name=name, type_name="local", actor="t", role="admin",
                          settings=_local(tmp_path, name), now=SATURDAY,
                          windows=windows)  # fmt: skip
            bind(db, name, fingerprint, actor="t", now=SATURDAY)
        _, orders = request_push(db, fingerprint, actor=OLIVIA, now=SATURDAY)
        for wo in orders:
            assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=SATURDAY).ok
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    server.fingerprint = fingerprint
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def test_the_implement_dialog_shows_each_connectors_windows_and_the_next_opening(web, monkeypatch):
    import dashboard.callbacks.approval as approval

    monkeypatch.setattr(approval, "_now", lambda: SATURDAY)
    with ActingAs(web, "ines", PASSWORD):
        state = approval.approval_dialog_state(Action.IMPLEMENT, web.fingerprint, BERLIN)
        pending, manual = state[3], state[4]
        assert manual is True and len(pending["work_orders"]) == 2
        now_text = component_text(approval.show_windows(True, None, pending, BERLIN))
        chosen_outside = component_text(
            approval.show_windows(False, "2026-12-14T09:00", pending, BERLIN)  # Monday
        )
        chosen_inside = component_text(
            approval.show_windows(False, "2026-12-15T22:30", pending, BERLIN)  # Tuesday
        )
        rejecting = approval.show_windows(True, None, {**pending, "action": "reject"}, BERLIN)
        closed, error, message, colour, *_ = approval.confirm_approval(
            1, pending, True, None, "", BERLIN
        )
    opening = "Tue 2026-12-15 22:00 Europe/Paris (21:00 UTC)"
    assert "Maintenance windows" in now_text
    assert "(anytime): any time" in now_text
    assert f"(paris): maintenance windows {PARIS}" in now_text
    assert f"outside them now: Yes schedules the push at the next opening, {opening}" in now_text
    assert f"the chosen time is outside them; the next opening is {opening}" in chosen_outside
    assert "the push time is inside a window" in chosen_inside
    assert "next opening" not in chosen_inside
    assert rejecting == []
    # Yes: the connector without windows pushes now, the other waits for its window.
    assert (closed, error, colour) == (False, None, "success")
    said = component_text(message)
    assert "is now Push In Progress" in said
    assert "is now Push-Scheduled: outside the maintenance windows of paris" in said
    statuses = {o.connector: (o.status, o.run_at) for o in _orders(web)}
    assert statuses == {
        "anytime": (S.PUSH_IN_PROGRESS, SATURDAY),
        "paris": (S.SCHEDULED, datetime(2026, 12, 15, 21, 0, tzinfo=UTC)),
    }


def _orders(web) -> list:
    from data.workorders import list_work_orders

    with session_scope(web.config["CERTPUSH_SETTINGS"].database_url) as db:
        return list_work_orders(db)
