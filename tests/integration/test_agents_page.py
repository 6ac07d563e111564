"""The Agents page's callbacks called as functions: everyone sees the agents and their
zones' state; only an admin approves or revokes, checked on the server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from data.agents import hello, list_agents
from data.db import session_scope
from data.envelopes import AgentKeys
from data.models import AuditEvent
from data.users import add_user
from tests.dash_calls import ActingAs, component_text

PASSWORD = "correct horse battery staple"


@pytest.fixture
def web(sqlite_settings):
    from dashboard.app import app

    now = datetime.now(UTC)
    keys = AgentKeys.generate()
    with session_scope(sqlite_settings.database_url) as db:
        add_user(db, "adam", "admin", PASSWORD, now)
        add_user(db, "olivia", "operator", PASSWORD, now)
        message = keys.sign({"type": "hello", "agent": "dmz-1", "zone": "dmz",
                             "identity": keys.public.to_json(), "version": "1"})  # fmt: skip
        hello(db, message, now=now)
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    yield server, keys.public.fingerprint
    server.config["CERTPUSH_SETTINGS"] = previous


def test_everyone_sees_the_agents_only_admins_decide(web, sqlite_settings):
    from dashboard.callbacks.agents import agent_rows, decide

    server, fingerprint = web
    with ActingAs(server, "olivia", PASSWORD):
        table, zones = agent_rows(None, None)
        assert fingerprint in component_text(table) and "pending" in component_text(table)
        assert "Approve" not in component_text(table)  # no buttons for an operator
        assert "dmz: offline" in component_text(zones)  # no approved agent yet
        said, colour, _open, _refresh = decide("dmz-1", "approve")  # a forged click
        assert colour == "danger" and "admins only" in said
    with session_scope(sqlite_settings.database_url) as db:
        assert list_agents(db)[0].state.value == "pending"
        refused = db.scalar(select(AuditEvent).where(AuditEvent.action == "agent.approve.refused"))
        assert refused is not None and refused.actor == "olivia"
    with ActingAs(server, "adam", PASSWORD):
        assert "Approve" in component_text(agent_rows(None, None)[0])
        said, colour, _open, _refresh = decide("dmz-1", "approve")
        assert colour == "success" and "approved" in said
        table, zones = agent_rows(None, None)
        assert "dmz: online" in component_text(zones)  # heard from just now
        said, colour, *_ = decide("dmz-1", "revoke")
        assert "revoked" in said
        assert "dmz: offline" in component_text(agent_rows(None, None)[1])


def test_the_topology_marks_a_zone_offline_only_with_a_broker(web, sqlite_settings):
    from dashboard.callbacks.topology import mark_offline_zones
    from data.agents import approve, revoke
    from data.domain.nodes import ConnectorState, ConnectorView

    views = [ConnectorView(1, "dmz-web", "ssh", ConnectorState.INSTALLED, (), zone="dmz"),
             ConnectorView(2, "core", "ssh", ConnectorState.INSTALLED, ())]  # fmt: skip
    now = datetime.now(UTC)
    with session_scope(sqlite_settings.database_url) as db:
        assert mark_offline_zones(db, views, None, now) == views  # no broker: all in process
        pending = mark_offline_zones(db, views, "amqp://broker", now)
        assert [v.zone_offline for v in pending] == [True, False]  # pending gets no work
        approve(db, "dmz-1", actor="adam", role="admin", now=now)
        assert [v.zone_offline for v in mark_offline_zones(db, views, "amqp://b", now)] == [
            False, False]  # fmt: skip
        revoke(db, "dmz-1", actor="adam", role="admin", now=now)
        assert mark_offline_zones(db, views, "amqp://b", now)[0].zone_offline is True
