"""A third-party connector type, registered only through entry points, is found and used."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from data.connectors import add_connector, bind, known_specs
from data.crypto import load_vault
from data.db import session_scope
from data.importer import import_paths
from jobs.connectors.base import InstallOutcome
from jobs.connectors.registry import connector_types
from jobs.push import push_certificate
from tests import certs as c

PLUGIN = """
from pathlib import Path

from data.domain.connector_specs import ConnectorSpec, FieldSpec
from jobs.connectors.base import AppConnector, CheckResult, InstallOutcome, InstallResult

SPEC = ConnectorSpec(
    type="fake-vault",
    label="Fake key vault",
    description="Writes the fingerprint to a file, like a cloud key store would store it.",
    fields=(FieldSpec("store", "Store file", "path", required=True),),
)


class FakeVaultConnector(AppConnector):
    spec = SPEC

    def install(self, material):
        Path(self.settings["store"]).write_text(material.fingerprint)
        return InstallResult(InstallOutcome.INSTALLED, "stored in the fake vault")

    def check(self):
        return CheckResult(True, "fake vault reachable")
"""


def test_entry_point_connector_is_discovered_and_used(sqlite_settings, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "fake_vault_connector.py").write_text(PLUGIN)
    dist = site / "fake_vault_connector-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-vault-connector\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [certpush.connectors]
            fake-vault = fake_vault_connector:FakeVaultConnector

            [certpush.connector_specs]
            fake-vault = fake_vault_connector:SPEC
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    assert "fake-vault" in known_specs()
    assert connector_types()["fake-vault"].__name__ == "FakeVaultConnector"

    cert, key = c.make_cert("plugin.example")
    (tmp_path / "p.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    vault = load_vault(sqlite_settings)
    now = datetime.now(UTC)
    store = tmp_path / "store.txt"
    with session_scope(sqlite_settings.database_url) as db:
        [result, _] = import_paths(db, vault, [tmp_path / "p.pem"], now=now, actor="t")
        add_connector(
            db,
            vault,
            name="vault-1",
            type_name="fake-vault",
            settings={"store": str(store)},
            actor="t",
            now=now,
        )
        bind(db, "vault-1", result.fingerprint_sha256, actor="t", now=now)
    report = push_certificate(
        sqlite_settings.database_url, vault, result.fingerprint_sha256, "vault-1", actor="t"
    )
    assert report.outcome is InstallOutcome.INSTALLED
    assert store.read_text() == result.fingerprint_sha256
