"""The contract every connector type fulfils, and its typed results.

Failures are values (InstallResult with a FailureClass and a human reason), not
exceptions escaping to the caller, so a push attempt is always recorded.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from data.domain.connector_specs import ConnectorSpec, EndpointSpec
from data.domain.errors import CertpushError


class InstallOutcome(enum.StrEnum):
    INSTALLED = "installed"
    ALREADY_INSTALLED = "already_installed"
    FAILED = "failed"


class FailureClass(enum.StrEnum):
    """Why a push or check failed, coarse enough to act on and to chart."""

    AUTH = "auth"
    HOST_KEY = "host_key"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    PERMISSION = "permission"
    CONFIG_TEST_FAILED = "config_test_failed"
    RELOAD_FAILED = "reload_failed"
    IO_ERROR = "io_error"
    CONFIG = "config"
    REFUSED = "refused"
    UNKNOWN = "unknown"


class ConnectorError(CertpushError):
    """A device operation failed; carries its class for the attempt record."""

    def __init__(self, failure: FailureClass, message: str):
        self.failure = failure
        super().__init__(message)


@dataclass(frozen=True)
class Material:
    """What gets installed. ``key_pem`` is secret: it is left out of repr."""

    fingerprint: str
    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    chain_pem: bytes = b""


@dataclass(frozen=True)
class PlannedFile:
    """One file of a push plan: where, with which mode, holding which parts."""

    path: str
    mode: int
    parts: tuple[str, ...]  # certificate, chain, key, pkcs12, pkcs12_password


@dataclass(frozen=True)
class InstallPlan:
    """The part of a pinned push plan (data/push_plans.py) a file-based install executes:
    exactly these files and these commands, nothing from the live connector settings."""

    files: tuple[PlannedFile, ...]
    test: tuple[str, ...] | None
    reload: tuple[str, ...] | None
    folders: tuple[str, ...]
    command_timeout: float = 60
    push_timeout: float = 180

    @classmethod
    def from_plan(cls, body: Mapping[str, Any]) -> InstallPlan:
        commands = body.get("commands") or {}
        timeouts = body.get("timeouts") or {}
        return cls(
            files=tuple(
                PlannedFile(f["path"], int(f["mode"], 8), tuple(f["parts"]))
                for f in body.get("files", [])
            ),
            test=tuple(commands["test"]) if commands.get("test") else None,
            reload=tuple(commands["reload"]) if commands.get("reload") else None,
            folders=tuple((body.get("profile") or {}).get("folders") or ()),
            command_timeout=float(timeouts.get("command", 60)),
            push_timeout=float(timeouts.get("push", 180)),
        )


@dataclass(frozen=True)
class InstallResult:
    outcome: InstallOutcome
    reason: str = ""
    failure: FailureClass | None = None
    rolled_back: bool = False
    steps: tuple[str, ...] = ()
    # A rollback's answer: the certificate the restored files hold (what to expect served).
    restored_fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is not InstallOutcome.FAILED


@dataclass(frozen=True)
class CheckResult:
    """The answer to "Test connection"."""

    ok: bool
    message: str
    failure: FailureClass | None = None
    host_key_fingerprint: str | None = None
    host_key_type: str | None = None
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "message": self.message,
            "failure": self.failure.value if self.failure else None,
            "host_key_fingerprint": self.host_key_fingerprint,
            "host_key_type": self.host_key_type,
            "details": list(self.details),
        }


class AppConnector(abc.ABC):
    """One configured connector. Subclasses register under the entry point group
    ``certpush.connectors`` and publish their ``spec`` under ``certpush.connector_specs``."""

    spec: ClassVar[ConnectorSpec]

    def __init__(
        self,
        settings: Mapping[str, Any],
        secret: bytes | None = None,
        secret_kind: str | None = None,
        endpoints: tuple[EndpointSpec, ...] = (),
        plan: InstallPlan | None = None,
    ):
        self.settings = dict(settings)
        self._secret = secret
        self.secret_kind = secret_kind
        self._endpoints = endpoints
        self.plan = plan  # built-in file connectors install exactly this

    def __repr__(self) -> str:  # never show the secret
        return f"<{type(self).__name__} {self.settings.get('host', 'local')}>"

    @abc.abstractmethod
    def install(self, material: Material) -> InstallResult:
        """Install certificate, key and chain atomically, reload, roll back on failure."""

    def rollback(self) -> InstallResult:
        """Put back the files the last install replaced, test and reload (issue 13).

        Types that keep no previous files cannot: the work order then says so and ends
        Rollback Failed, never pretending the device was restored.
        """
        return InstallResult(
            InstallOutcome.FAILED,
            f"the {self.spec.label} connector type cannot restore previous files",
            FailureClass.CONFIG,
        )

    @abc.abstractmethod
    def check(self) -> CheckResult:
        """Connect, authenticate and check the target folders, changing nothing."""

    def endpoints(self) -> tuple[EndpointSpec, ...]:
        """Where the device serves the certificate (configured for file-based types)."""
        return self._endpoints
