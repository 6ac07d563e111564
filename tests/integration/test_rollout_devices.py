"""A rollout on real devices: a canary that fails verification touches no other device.

One private nginx serves three sites, each from its own files, one per local connector.
The canary's device profile reloads nothing, so nginx keeps serving the old certificate:
its verification fails and the install is rolled back. The scheduler's own functions run
the pushes (claim_due, then run_work_order, which verifies and rolls back and calls the
rollout's hooks); what a device serves is always seen through a TLS handshake.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.rollout import RolloutState
from data.domain.workflow import Action, Actor, WorkOrderStatus
from data.importer import import_paths
from data.models import Connector, PushAttempt
from data.rollouts import abort, resume, rollout_view
from data.users import add_user
from data.workorders import act, claim_due, get_work_order, request_push
from jobs.workorders import run_work_order
from tests.profiles import define, nginx_profile
from tests.servers import PrivateNginx, free_port, make_cert_files, tls_fingerprint

S = WorkOrderStatus
OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
INES = Actor("ines", "implementer")
IVAN = Actor("ivan", "implementer")
CANARY = "edge-c"  # marked canary, and its profile's reload leaves nginx as it was
OTHERS = ("edge-a", "edge-b")


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def fleet(sqlite_settings, tmp_path):
    """nginx serving an old certificate per connector; a new certificate bound to all."""
    vault = load_vault(sqlite_settings)
    nginx = PrivateNginx(tmp_path / "nginx")
    devices = {}
    for name in (*OTHERS, CANARY):
        folder = tmp_path / "tls" / name
        cert, key, old = make_cert_files(folder, f"{name}.fleet.example", stem="site")
        port = free_port()
        nginx.add_site(port, cert, key)
        devices[name] = {"folder": folder, "cert": cert, "key": key, "old": old, "port": port}
    new_cert, new_key, new = make_cert_files(tmp_path / "new", "fleet.example")
    folders = [str(tmp_path / "tls")]
    good = nginx_profile(nginx, "fleet-nginx", folders=folders)
    deaf = define("fleet-no-reload", test=None, reload=["true"], folders=folders)
    nginx.start()
    with session_scope(sqlite_settings.database_url) as db:
        for actor in (OLIVIA, RAVI, INES, IVAN):
            add_user(db, actor.username, actor.role, "long-password-1", now())
        import_paths(db, vault, [new_cert, new_key], now=now(), actor="t")
        for name, device in devices.items():
            add_connector(
                db, vault, name=name, type_name="local", actor="t", role="admin", now=now(),
                settings={"profile": deaf if name == CANARY else good,
                          "cert_path": str(device["cert"]), "key_path": str(device["key"])},
                endpoints=[f"127.0.0.1:{device['port']}"],
            )  # fmt: skip
            bind(db, name, new, actor="t", now=now())
        db.execute(update(Connector).where(Connector.name == CANARY).values(canary=True))
    try:
        yield {"nginx": nginx, "devices": devices, "new": new, "vault": vault,
               "settings": sqlite_settings}  # fmt: skip
    finally:
        nginx.stop()


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file of a device's folder and its bytes: a push that started leaves a trace."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def served(fleet, name: str) -> str:
    return tls_fingerprint("127.0.0.1", fleet["devices"][name]["port"])


def implemented_rollout(fleet) -> tuple[str, dict[str, int]]:
    with session_scope(fleet["settings"].database_url) as db:
        label, orders = request_push(db, fleet["new"], actor=OLIVIA, now=now(), comment="renew")
        for wo in orders:
            assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now()).ok
            assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now()).ok
    return label, {wo.connector: wo.id for wo in orders}


def scheduler_tick(fleet) -> list[int]:
    """One round of the scheduler: claim what is due, run each claimed work order to its
    end (install, verification, rollback when it fails)."""
    settings = fleet["settings"]
    with session_scope(settings.database_url) as db:
        claimed = claim_due(db, owner="t", now=now(), grace=timedelta(hours=1),
                            lease=timedelta(minutes=5), limit=10)  # fmt: skip
    for wo_id in claimed:
        run_work_order(settings.database_url, fleet["vault"], wo_id, "t")
    return claimed


def status(fleet, wo_id: int) -> S:
    with session_scope(fleet["settings"].database_url) as db:
        return get_work_order(db, wo_id).status


def attempts(fleet, wo_id: int) -> list[str]:
    with session_scope(fleet["settings"].database_url) as db:
        return list(db.scalars(select(PushAttempt.kind).where(PushAttempt.work_order_id == wo_id)))


def halted_by_the_canary(fleet) -> tuple[str, dict[str, int], dict[str, dict[str, bytes]]]:
    """The canary fails verification and is rolled back; the others are Halted, untouched."""
    before = {name: files_of(fleet["devices"][name]["folder"]) for name in OTHERS}
    for name in OTHERS:
        assert served(fleet, name) == fleet["devices"][name]["old"]
    label, wos = implemented_rollout(fleet)
    assert scheduler_tick(fleet) == [wos[CANARY]]  # the marked canary, alone
    assert status(fleet, wos[CANARY]) is S.ROLLED_BACK
    assert served(fleet, CANARY) == fleet["devices"][CANARY]["old"]
    with session_scope(fleet["settings"].database_url) as db:
        view = rollout_view(db, label)
    assert view.state is RolloutState.HALTED
    # It halted at the first unsuccessful end, before the rollback ran.
    assert view.reason.startswith(f"WO-{wos[CANARY]:06d} ({CANARY}) ended Failed Verification")
    assert f"127.0.0.1:{fleet['devices'][CANARY]['port']}: serves" in view.reason
    assert scheduler_tick(fleet) == []  # nothing more is touched while it is halted
    for name in OTHERS:
        assert status(fleet, wos[name]) is S.HALTED
        assert attempts(fleet, wos[name]) == []
        assert files_of(fleet["devices"][name]["folder"]) == before[name]
        assert served(fleet, name) == fleet["devices"][name]["old"]
    return label, wos, before


def test_a_canary_failure_touches_no_other_device_and_resume_continues(fleet):
    label, wos, _ = halted_by_the_canary(fleet)
    with session_scope(fleet["settings"].database_url) as db:
        result = resume(db, label, actor=IVAN, comment="edge-c's reload is broken", now=now())
    assert result.ok, result.message
    assert scheduler_tick(fleet) == [wos["edge-a"]]  # wave 1 of 2
    assert status(fleet, wos["edge-a"]) is S.COMPLETED
    assert served(fleet, "edge-a") == fleet["new"]
    assert served(fleet, "edge-b") == fleet["devices"]["edge-b"]["old"]
    assert scheduler_tick(fleet) == [wos["edge-b"]]  # wave 2 of 2
    assert status(fleet, wos["edge-b"]) is S.COMPLETED
    assert served(fleet, "edge-b") == fleet["new"]
    with session_scope(fleet["settings"].database_url) as db:
        done = rollout_view(db, label)
    assert (done.state, done.progress) == (RolloutState.DONE, "ended with failures")
    assert [m.status for m in done.members] == [S.ROLLED_BACK, S.COMPLETED, S.COMPLETED]


def test_a_canary_failure_then_abort_cancels_the_rest(fleet):
    label, wos, before = halted_by_the_canary(fleet)
    with session_scope(fleet["settings"].database_url) as db:
        result = abort(db, label, actor=INES, comment="wrong certificate", now=now())
    assert result.ok, result.message
    assert scheduler_tick(fleet) == []
    for name in OTHERS:
        assert status(fleet, wos[name]) is S.CANCELLED
        assert files_of(fleet["devices"][name]["folder"]) == before[name]
        assert served(fleet, name) == fleet["devices"][name]["old"]
