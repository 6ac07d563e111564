"""Installing certificate files on a device, the same way over SFTP or on local disk.

The algorithm lives once, here; a transport only knows how to read, write,
rename and run a command. Guarantees:
- atomic: every file is written to a temporary name, then renamed into place;
- idempotent: the same certificate and key already in place is reported, not rewritten;
- reversible: the previous files are kept (``*.certpush-prev``) and restored, and the
  device reloaded again, when the config test or the reload fails;
- bounded: every command has a timeout and the whole push a deadline;
- quiet: key bytes are never put in a message.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from jobs.connectors.base import (
    ConnectorError,
    FailureClass,
    InstallOutcome,
    InstallResult,
    Material,
)

NEW_SUFFIX = ".certpush-new"
PREV_SUFFIX = ".certpush-prev"
OUTPUT_TAIL = 600


@dataclass(frozen=True)
class CommandResult:
    code: int
    output: str


class FileTransport(Protocol):
    """What a device must offer for file-based installs."""

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""

    def write(self, path: str, data: bytes, mode: int) -> None:
        """Create or truncate ``path`` with ``mode`` and write ``data``."""

    def rename(self, source: str, target: str) -> None:
        """Atomically replace ``target`` with ``source``."""

    def remove(self, path: str) -> None:
        """Delete ``path`` if it exists."""

    def run(self, command: str, timeout: float) -> CommandResult:
        """Run a shell command; raise ConnectorError(TIMEOUT) past ``timeout``."""


def os_failure(exc: OSError, what: str) -> ConnectorError:
    """Turn an OS error into a failure class and a message naming the file."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ConnectorError(FailureClass.PERMISSION, f"permission denied: cannot {what}")
    if exc.errno == errno.ENOENT:
        return ConnectorError(FailureClass.IO_ERROR, f"cannot {what}: the folder does not exist")
    return ConnectorError(FailureClass.IO_ERROR, f"cannot {what}: {exc.strerror or exc}")


def leaf_fingerprint(pem: bytes | None) -> str | None:
    """SHA-256 of the first certificate in a PEM file, or None if there is none."""
    if not pem:
        return None
    try:
        return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()
    except ValueError:
        return None


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= OUTPUT_TAIL else "…" + text[-OUTPUT_TAIL:]


@dataclass(frozen=True)
class _Target:
    path: str
    data: bytes
    mode: int
    label: str


class FileInstaller:
    """Runs one install through a transport according to the connector's settings."""

    def __init__(self, transport: FileTransport, settings: Mapping[str, Any]):
        self.files = transport
        self.settings = settings
        self.command_timeout = float(settings.get("command_timeout", 60))
        self.deadline = time.monotonic() + float(settings.get("push_timeout", 180))
        self.steps: list[str] = []

    def _targets(self, material: Material) -> list[_Target]:
        cert = material.cert_pem
        if self.settings.get("fullchain") and material.chain_pem:
            cert = cert.rstrip(b"\n") + b"\n" + material.chain_pem
        targets = [_Target(self.settings["cert_path"], cert, 0o644, "certificate")]
        if self.settings.get("chain_path"):
            targets.append(_Target(self.settings["chain_path"], material.chain_pem, 0o644, "chain"))
        targets.append(_Target(self.settings["key_path"], material.key_pem, 0o600, "key"))
        return targets

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise ConnectorError(
                FailureClass.TIMEOUT,
                f"the push took longer than its {self.settings.get('push_timeout', 180)} s limit",
            )

    def _command(self, name: str) -> CommandResult | None:
        command = self.settings.get(name)
        if not command:
            return None
        self._check_deadline()
        timeout = min(self.command_timeout, max(1.0, self.deadline - time.monotonic()))
        result = self.files.run(command, timeout)
        self.steps.append(f"{name}: exit {result.code}")
        return result

    def install(self, material: Material) -> InstallResult:
        targets = self._targets(material)
        current = {t.path: self.files.read(t.path) for t in targets}
        if leaf_fingerprint(current[targets[0].path]) == material.fingerprint and all(
            current[t.path] == t.data for t in targets[1:]
        ):
            return InstallResult(
                InstallOutcome.ALREADY_INSTALLED,
                "the device already has this certificate and key: nothing changed",
                steps=("compared files: identical",),
            )
        try:
            for target in targets:
                self._check_deadline()
                self.files.write(target.path + NEW_SUFFIX, target.data, target.mode)
        except ConnectorError:
            for target in targets:  # leave no half-written temporary files behind
                with contextlib.suppress(ConnectorError):
                    self.files.remove(target.path + NEW_SUFFIX)
            raise
        self.steps.append("uploaded new files")
        for target in targets:
            previous = current[target.path]
            if previous is not None:
                self.files.write(target.path + PREV_SUFFIX, previous, target.mode)
        replaced: list[_Target] = []
        try:
            for target in targets:
                self.files.rename(target.path + NEW_SUFFIX, target.path)
                replaced.append(target)
            self.steps.append("renamed into place")
            test = self._command("test_command")
            if test is not None and test.code != 0:
                self._restore(replaced, current)
                return InstallResult(
                    InstallOutcome.FAILED,
                    f"config test failed (exit {test.code}); previous files restored: "
                    f"{_tail(test.output)}",
                    FailureClass.CONFIG_TEST_FAILED,
                    rolled_back=True,
                    steps=tuple(self.steps),
                )
            reload = self._command("reload_command")
            if reload is not None and reload.code != 0:
                self._restore(replaced, current)
                again = self._command("reload_command")
                after = (
                    "and the device reloaded with them"
                    if again is not None and again.code == 0
                    else "but reloading them failed too: check the device"
                )
                return InstallResult(
                    InstallOutcome.FAILED,
                    f"reload failed (exit {reload.code}); previous files restored {after}: "
                    f"{_tail(reload.output)}",
                    FailureClass.RELOAD_FAILED,
                    rolled_back=True,
                    steps=tuple(self.steps),
                )
        except ConnectorError as exc:
            if replaced:
                self._restore(replaced, current)
                if exc.failure is FailureClass.TIMEOUT and self.settings.get("reload_command"):
                    self._try_reload_after_restore()
            raise ConnectorError(
                exc.failure, f"{exc}" + ("; previous files restored" if replaced else "")
            ) from None
        return InstallResult(InstallOutcome.INSTALLED, "installed", steps=tuple(self.steps))

    def _try_reload_after_restore(self) -> None:
        try:
            self.deadline = time.monotonic() + self.command_timeout
            self._command("reload_command")
        except ConnectorError:
            pass

    def _restore(self, replaced: list[_Target], current: Mapping[str, bytes | None]) -> None:
        """Put back what was there before; a file that did not exist is removed again."""
        for target in replaced:
            previous = current[target.path]
            if previous is None:
                self.files.remove(target.path)
            else:
                self.files.rename(target.path + PREV_SUFFIX, target.path)
                self.files.write(target.path + PREV_SUFFIX, previous, target.mode)
        self.steps.append("restored previous files")
