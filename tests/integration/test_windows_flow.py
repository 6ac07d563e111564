"""Maintenance windows from the connector settings to the approval flow: through
``data.connectors``, with ``now`` injected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from data.connectors import (
    add_connector,
    bind,
    bound_connectors,
    get_connector,
    update_connector,
)
from data.db import session_scope
from data.domain.connector_specs import ConnectorConfigError
from data.domain.workflow import Action, Actor, WorkOrderStatus
from data.importer import import_paths
from data.models import AuditEvent
from data.workorders import act, get_work_order, request_push
from tests import certs as c

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
