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
import posixpath
import secrets
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from data.domain.profiles import inside
from jobs.connectors.base import (
    ConnectorError,
    FailureClass,
    InstallOutcome,
    InstallPlan,
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

    def realpath(self, path: str) -> str | None:
        """``path`` with every symlink resolved, or None when it does not exist."""

    def is_link(self, path: str) -> bool:
        """Whether ``path`` itself is a symbolic link."""

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run a command without a shell; raise ConnectorError(TIMEOUT) past ``timeout``."""


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


def describe(argv: Sequence[str]) -> str:
    """A command as a person would type it (for messages only: it never runs this way)."""
    return shlex.join(argv)


@dataclass(frozen=True)
class _Target:
    path: str
    data: bytes
    mode: int
    label: str


def _pkcs12(material: Material, password: bytes) -> bytes:
    key = serialization.load_pem_private_key(material.key_pem, None)
    cert = x509.load_pem_x509_certificate(material.cert_pem)
    chain = x509.load_pem_x509_certificates(material.chain_pem) if material.chain_pem else []
    return pkcs12.serialize_key_and_certificates(
        (cert.subject.rfc4514_string() or "certificate").encode()[:200],
        key,  # type: ignore[arg-type]
        cert,
        chain or None,
        serialization.BestAvailableEncryption(password),
    )


def _pkcs12_matches(data: bytes | None, password: bytes | None, material: Material) -> bool:
    if not data or not password:
        return False
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, password.strip())
    except ValueError:
        return False
    if cert is None or key is None:
        return False
    wanted = serialization.load_pem_private_key(material.key_pem, None)
    same_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) == wanted.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    return same_key and cert.fingerprint(hashes.SHA256()).hex() == material.fingerprint


class FileInstaller:
    """Runs one install of a pinned plan through a transport: its files, its commands."""

    def __init__(self, transport: FileTransport, plan: InstallPlan):
        self.files = transport
        self.plan = plan
        self.command_timeout = plan.command_timeout
        self.deadline = time.monotonic() + plan.push_timeout
        self.steps: list[str] = []

    def _targets(self, material: Material, current: Mapping[str, bytes | None]) -> list[_Target]:
        password = None
        for f in self.plan.files:  # keep an existing PKCS#12 password: same file, same bytes
            if "pkcs12_password" in f.parts:
                password = (current.get(f.path) or b"").strip() or None
        password = password or secrets.token_urlsafe(24).encode()
        pieces = {
            "certificate": material.cert_pem,
            "chain": material.chain_pem,
            "key": material.key_pem,
            "pkcs12_password": password + b"\n",
        }
        targets = []
        for f in self.plan.files:
            if f.parts == ("pkcs12",):
                data = _pkcs12(material, password)
            else:
                data = b"".join(pieces[p].rstrip(b"\n") + b"\n" for p in f.parts if pieces.get(p))
            targets.append(_Target(f.path, data, f.mode, "+".join(f.parts)))
        return targets

    def _contained(self) -> None:
        """Refuse, before anything is written, a path that leaves the profile's folders
        (a symlinked file, or a folder that resolves elsewhere)."""
        allowed = [self.files.realpath(folder) or folder for folder in self.plan.folders]
        for f in self.plan.files:
            folder = posixpath.dirname(f.path)
            real = self.files.realpath(folder)
            if real is None:
                raise ConnectorError(
                    FailureClass.IO_ERROR, f"cannot write {f.path}: the folder does not exist"
                )
            if not any(inside(real, a) for a in allowed) or self.files.is_link(f.path):
                raise ConnectorError(
                    FailureClass.REFUSED,
                    f"refused: {f.path} resolves outside the profile's folders "
                    f"({', '.join(self.plan.folders)}) through a symbolic link; nothing written",
                )

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise ConnectorError(
                FailureClass.TIMEOUT,
                f"the push took longer than its {self.plan.push_timeout:.0f} s limit",
            )

    def _command(self, name: str) -> CommandResult | None:
        argv = self.plan.test if name == "test" else self.plan.reload
        if not argv:
            return None
        self._check_deadline()
        timeout = min(self.command_timeout, max(1.0, self.deadline - time.monotonic()))
        result = self.files.run(argv, timeout)
        self.steps.append(f"{name} ({describe(argv)}): exit {result.code}")
        return result

    def _already(self, material: Material, current: Mapping[str, bytes | None]) -> bool:
        files = self.plan.files
        if any(f.parts == ("pkcs12",) for f in files):
            p12 = next(f for f in files if f.parts == ("pkcs12",))
            pw = next((f for f in files if "pkcs12_password" in f.parts), None)
            return _pkcs12_matches(current[p12.path], current[pw.path] if pw else None, material)
        targets = self._targets(material, current)
        return leaf_fingerprint(current[targets[0].path]) == material.fingerprint and all(
            current[t.path] == t.data for t in targets
        )

    def install(self, material: Material, *, reload_if_present: bool = False) -> InstallResult:
        """Put the files in place, test, reload; a device that already has them is left
        alone, unless ``reload_if_present``: an install delivered again after a worker died
        may find the files renamed into place but never reloaded, so it tests and reloads
        (both harmless to repeat)."""
        self._contained()
        current = {f.path: self.files.read(f.path) for f in self.plan.files}
        targets = self._targets(material, current)
        if self._already(material, current):
            if reload_if_present and (self.plan.test or self.plan.reload):
                return self._reload_present()
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
            test = self._command("test")
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
            reload = self._command("reload")
            if reload is not None and reload.code != 0:
                self._restore(replaced, current)
                again = self._command("reload")
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
                if exc.failure is FailureClass.TIMEOUT and self.plan.reload:
                    self._try_reload_after_restore()
            raise ConnectorError(
                exc.failure, f"{exc}" + ("; previous files restored" if replaced else "")
            ) from None
        return InstallResult(InstallOutcome.INSTALLED, "installed", steps=tuple(self.steps))

    def _test_and_reload(self, test_fails: str, reload_fails: str) -> InstallResult | None:
        """Run the profile's test, then its reload; the failure (with the command's output)
        or None when both passed (or the profile has neither)."""
        test = self._command("test")
        if test is not None and test.code != 0:
            return InstallResult(
                InstallOutcome.FAILED,
                f"{test_fails} (exit {test.code}): {_tail(test.output)}",
                FailureClass.CONFIG_TEST_FAILED,
                steps=tuple(self.steps),
            )
        reload = self._command("reload")
        if reload is not None and reload.code != 0:
            return InstallResult(
                InstallOutcome.FAILED,
                f"{reload_fails} (exit {reload.code}): {_tail(reload.output)}",
                FailureClass.RELOAD_FAILED,
                steps=tuple(self.steps),
            )
        return None

    def _reload_present(self) -> InstallResult:
        self.steps.append("compared files: identical")
        failed = self._test_and_reload(
            "the files are in place but the config test fails",
            "the files are in place but the reload fails",
        )
        return failed or InstallResult(
            InstallOutcome.ALREADY_INSTALLED,
            "the device already has this certificate and key; tested and reloaded again, "
            "as an earlier delivery of this push may have stopped before its reload",
            steps=tuple(self.steps),
        )

    def _restored_fingerprint(self, restored: Mapping[str, bytes]) -> str | None:
        """The certificate the restored files hold (the leaf of the certificate file, or
        of the PKCS#12 opened with its restored password file)."""
        files = self.plan.files
        p12 = next((f for f in files if f.parts == ("pkcs12",)), None)
        if p12 is not None:
            pw = next((f for f in files if "pkcs12_password" in f.parts), None)
            password = (restored.get(pw.path) or b"").strip() if pw else b""
            try:
                _, cert, _ = pkcs12.load_key_and_certificates(restored[p12.path], password or None)
            except ValueError:
                return None
            return cert.fingerprint(hashes.SHA256()).hex() if cert else None
        holder = next((f for f in files if "certificate" in f.parts), None)
        return leaf_fingerprint(restored.get(holder.path)) if holder else None

    def rollback(self) -> InstallResult:
        """Undo the last install: the kept ``*.certpush-prev`` files go back in place (each
        atomically; the kept copies stay), then the profile's test and reload run.

        A file without a kept previous version (it did not exist before the push, or the
        copy was deleted) makes the rollback fail before anything is changed.
        """
        self._contained()
        previous = {f.path: self.files.read(f.path + PREV_SUFFIX) for f in self.plan.files}
        missing = [path for path, data in previous.items() if data is None]
        if missing:
            return InstallResult(
                InstallOutcome.FAILED,
                "cannot roll back: no previous version of "
                + ", ".join(missing)
                + f" was kept ({PREV_SUFFIX} missing: the file did not exist before the push, "
                "or the copy was deleted); the device keeps the pushed files",
                FailureClass.IO_ERROR,
            )
        kept = {path: data for path, data in previous.items() if data is not None}
        try:
            for f in self.plan.files:
                self._check_deadline()
                self.files.write(f.path + NEW_SUFFIX, kept[f.path], f.mode)
                self.files.rename(f.path + NEW_SUFFIX, f.path)
            self.steps.append("restored previous files")
            failed = self._test_and_reload(
                "the restored files fail the config test",
                "reloading the restored files failed",
            )
            if failed is not None:
                return failed
        except ConnectorError as exc:
            return InstallResult(InstallOutcome.FAILED, f"rollback: {exc}", exc.failure,
                                 steps=tuple(self.steps))  # fmt: skip
        return InstallResult(
            InstallOutcome.INSTALLED,
            "previous files restored"
            + (", tested" if self.plan.test else "")
            + (" and reloaded" if self.plan.reload else ""),
            steps=tuple(self.steps),
            restored_fingerprint=self._restored_fingerprint(kept),
        )

    def _try_reload_after_restore(self) -> None:
        try:
            self.deadline = time.monotonic() + self.command_timeout
            self._command("reload")
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
