"""The demo dataset: certificates of every colour and one user per role.

Certificates are real (a demo CA signs them, private keys are stored sealed)
and go through the same importer as user files, so the demo exercises the
real path. Loading twice adds nothing the second time.

Gray and Mid Purple are not set here: `certpush demo` gives the demo certificates
a history (jobs/demo_history.py) in which their pushes really failed or drifted.
That history starts HISTORY_DAYS before now, so users and certificates are
recorded as made then, before anything happened to them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from data.crypto import Vault
from data.domain.roles import Role
from data.importer import Importer, Outcome
from data.models import Certificate, User
from data.users import add_user

DEMO_USERS = {
    Role.OPERATOR: "olivia",
    Role.REVIEWER: "ravi",
    Role.IMPLEMENTER: "ines",
    Role.MANAGER: "maya",
    Role.ADMIN: "adam",
}

# How far back the demo's history goes; the inventory is recorded as made that long ago.
HISTORY_DAYS = 90

# (common name, days until expiry, flag) - flag: None or "revoked". The Gray ones
# (mail-relay, iot-gateway-3) and the Mid Purple one (web-frontend-eu) get their
# colour from their history (jobs/demo_history.py).
DEMO_CERTIFICATES: tuple[tuple[str, int, str | None], ...] = (
    ("payments-api.corp.example", 400, None),
    ("vpn-client-alice.corp.example", 365, None),
    ("vpn-client-bob.corp.example", 300, None),
    ("erp-gateway.corp.example", 240, None),
    ("mq-client-orders.corp.example", 200, None),
    ("hr-portal.corp.example", 180, None),
    ("ldap-client-sync.corp.example", 150, None),
    ("intranet.corp.example", 120, None),
    ("backup-agent-01.corp.example", 89, None),
    ("backup-agent-02.corp.example", 75, None),
    ("wifi-radius-client.corp.example", 60, None),
    ("crm-connector.corp.example", 45, None),
    ("metrics-push.corp.example", 30, None),
    ("sftp-client-bank.corp.example", 25, None),
    ("edi-partner-acme.corp.example", 14, None),
    ("printer-fleet.corp.example", 10, None),
    ("kiosk-client-07.corp.example", 6, None),
    ("jenkins-agent.corp.example", 2, None),
    ("legacy-soap-client.corp.example", -3, None),
    ("old-vpn-client.corp.example", -40, None),
    ("decommissioned-api.corp.example", -200, None),
    ("stolen-laptop-client.corp.example", 200, "revoked"),
    ("compromised-build.corp.example", 100, "revoked"),
    ("mail-relay.corp.example", 210, None),
    ("iot-gateway-3.corp.example", 50, None),
    ("web-frontend-eu.corp.example", 250, None),
    ("db-client-reporting.corp.example", 130, None),
    ("sso-client.corp.example", 330, None),
    ("api-gw-client-us.corp.example", 95, None),
    ("grafana-client.corp.example", 8, None),
    ("nfs-client-cluster.corp.example", 28, None),
    ("ocsp-client.corp.example", 88, None),
)


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    password: str


@dataclass
class DemoSummary:
    users: list[DemoUser] = field(default_factory=list)
    certificates_added: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "users": [u.__dict__ for u in self.users],
            "certificates_added": self.certificates_added,
        }


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp (demo)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _demo_chain(now: datetime) -> list[tuple[bytes, bytes | None]]:
    """PEM certificates (and PKCS#8 keys) for the demo CA and every demo leaf."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("certpush Demo Issuing CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out: list[tuple[bytes, bytes | None]] = [(ca.public_bytes(serialization.Encoding.PEM), None)]
    for cn, days, _flag in DEMO_CERTIFICATES:
        key = ec.generate_private_key(ec.SECP256R1())
        not_after = now + timedelta(days=days, hours=12)
        eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if not cn.split(".")[0].endswith("client"):
            eku.append(ExtendedKeyUsageOID.SERVER_AUTH)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(now, not_after) - timedelta(days=365))
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(cn), x509.DNSName("alt." + cn)]),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        out.append((cert.public_bytes(serialization.Encoding.PEM), pem_key))
    return out


def recorded_at(now: datetime) -> datetime:
    """When the demo's inventory is recorded as made: where its history starts."""
    return now - timedelta(days=HISTORY_DAYS)


def load_demo(session: Session, vault: Vault, now: datetime) -> DemoSummary:
    """Add demo users and certificates unless they are already there.

    Expiry and revocation are relative to ``now``; the users and certificates are
    recorded as made ``HISTORY_DAYS`` earlier (``recorded_at``).
    """
    summary = DemoSummary()
    made = recorded_at(now)
    existing_users = set(session.scalars(select(User.username)))
    for role, username in DEMO_USERS.items():
        if username in existing_users:
            continue
        password = secrets.token_urlsafe(12)
        add_user(session, username, role.value, password, made, actor="demo")
        summary.users.append(DemoUser(username, role.value, password))
    demo_count = session.scalar(
        select(func.count()).select_from(Certificate).where(Certificate.source.like("demo:%"))
    )
    if demo_count:
        return summary
    importer = Importer(session, vault, made, actor="demo", max_bytes=1 << 20)
    for index, (cert_pem, key_pem) in enumerate(_demo_chain(now)):
        name = "demo:ca.pem" if index == 0 else f"demo:{DEMO_CERTIFICATES[index - 1][0]}.pem"
        importer.add_bytes(name, cert_pem + (key_pem or b""))
    results = importer.finish()
    summary.certificates_added = sum(
        r.result is Outcome.IMPORTED and r.kind == "certificate" for r in results
    )
    for cn, _days, flag in DEMO_CERTIFICATES:
        if flag != "revoked":
            continue
        session.execute(
            update(Certificate)
            .where(Certificate.common_name == cn, Certificate.source.like("demo:%"))
            .values(revoked_at=now - timedelta(days=3), revocation_reason="keyCompromise")
        )
    return summary
