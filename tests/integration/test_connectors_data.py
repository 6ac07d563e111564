"""The connector data layer on both databases: validation, secrets, bindings, attempts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from data.connectors import (
    add_connector,
    bind,
    bound_connectors,
    get_connector,
    open_secret,
    record_push_attempt,
    set_endpoints,
    unbind,
)
from data.db import session_scope
from data.domain.connector_specs import ConnectorConfigError, EndpointSpec
from data.domain.nodes import ConnectorState
from data.importer import import_paths
from data.models import Certificate, Connector
from tests import certs as c
from tests.profiles import define

SSH = {
    "profile": define("test-etc-tls", folders=["/etc/tls"]),
    "host": "2001:db8::5",
    "username": "deploy",
    "cert_path": "/etc/tls/a.crt",
    "key_path": "/etc/tls/a.key",
}


@pytest.fixture
def fingerprint(settings, vault, now, tmp_path):
    cert, key = c.make_cert("conn.example")
    (tmp_path / "c.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    with session_scope(settings.database_url) as db:
        [result, _] = import_paths(db, vault, [tmp_path / "c.pem"], now=now, actor="t")
    return result.fingerprint_sha256


def test_add_validates_everything_at_once(settings, vault, now):
    with session_scope(settings.database_url) as db, pytest.raises(ConnectorConfigError) as exc:
        add_connector(
            db,
            vault,
            name="has space",
            type_name="ssh",
            settings={"host": "not a host!", "port": "99999", "cert_path": "rel.crt", "x": 1},
            endpoints=["[::1]:443", "nope"],
            actor="t",
            now=now,
        )
    errors = exc.value.errors
    assert set(errors) >= {"name", "host", "port", "username", "cert_path", "profile", "x",
                           "endpoints[2]", "secret"}  # fmt: skip
    with session_scope(settings.database_url) as db:
        assert db.scalar(select(Connector.id)) is None


def test_secret_sealed_bindings_and_attempt_state(settings, vault, now, fingerprint):
    with session_scope(settings.database_url) as db:
        info = add_connector(
            db,
            vault,
            name="web-1",
            type_name="ssh",
            settings=SSH,
            endpoints=["[2001:db8::5]:443 www.example.com", "192.0.2.7:8443"],
            secret=b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
            secret_kind="private_key",
            actor="t",
            now=now,
        )
        raw = db.scalar(select(Connector.sealed_secret).where(Connector.name == "web-1"))
        assert b"OPENSSH" not in raw
        assert open_secret(db, vault, "web-1").startswith(b"-----BEGIN OPENSSH")
        assert info.endpoints == (
            EndpointSpec("2001:db8::5", 443, "www.example.com"),
            EndpointSpec("192.0.2.7", 8443, None),
        )
        assert "OPENSSH" not in str(info.to_json())
        assert bind(db, "web-1", fingerprint, actor="t", now=now)
        assert not bind(db, "web-1", fingerprint, actor="t", now=now)
    with session_scope(settings.database_url) as db:
        cert = db.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint))
        [view] = bound_connectors(db, cert.id)
        assert view.state is ConnectorState.NOT_PUSHED and len(view.endpoints) == 2
        record_push_attempt(db, certificate_id=cert.id, connector_id=view.id, actor="t",
                            started_at=now, finished_at=now + timedelta(seconds=1),
                            outcome="failed", reason_class="auth", reason="refused")  # fmt: skip
    with session_scope(settings.database_url) as db:
        cert = db.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint))
        assert cert.push_failed
        [view] = bound_connectors(db, cert.id)
        assert view.state is ConnectorState.FAILED and view.detail == "refused"
        record_push_attempt(db, certificate_id=cert.id, connector_id=view.id, actor="t",
                            started_at=now, finished_at=now, outcome="installed",
                            reason_class=None, reason="installed")  # fmt: skip
    with session_scope(settings.database_url) as db:
        cert = db.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint))
        assert not cert.push_failed  # the latest push on every connector succeeded
        set_endpoints(db, "web-1", "10.0.0.1:443", actor="t", now=now)
        assert get_connector(db, "web-1").endpoints == (EndpointSpec("10.0.0.1", 443),)
        assert unbind(db, "web-1", fingerprint, actor="t", now=now)
        assert bound_connectors(db, cert.id) == []


def test_a_connector_belongs_to_a_zone_and_moving_it_is_a_change(settings, vault, now):
    from data.connectors import get_connector, update_connector

    with session_scope(settings.database_url) as db:
        info = add_connector(db, vault, name="dmz-web", type_name="ssh", settings=SSH,
                             secret=b"pw", secret_kind="password", actor="t", now=now)  # fmt: skip
        assert (info.zone, info.to_json()["zone"]) == ("local", "local")
    with session_scope(settings.database_url) as db, pytest.raises(ConnectorConfigError) as exc:
        update_connector(db, vault, "dmz-web", zone="DMZ west!", actor="t", role="admin",
                         now=now)  # fmt: skip
    assert "zone" in exc.value.errors
    with session_scope(settings.database_url) as db:
        moved, _voided = update_connector(db, vault, "dmz-web", zone="dmz-west", actor="t",
                                          role="admin", now=now)  # fmt: skip
        assert moved.zone == "dmz-west"
        assert get_connector(db, "dmz-web").zone == "dmz-west"
