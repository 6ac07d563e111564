"""The ``local`` connector: the file install on this host's own filesystem."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from data.domain.connector_specs import LOCAL_SPEC
from jobs.connectors.base import (
    AppConnector,
    CheckResult,
    ConnectorError,
    FailureClass,
    InstallOutcome,
    InstallResult,
    Material,
)
from jobs.connectors.files import CommandResult, FileInstaller, describe, os_failure


class LocalFiles:
    """FileTransport on the local filesystem."""

    def read(self, path: str) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_failure(exc, f"read {path}") from None

    def write(self, path: str, data: bytes, mode: int) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(path, mode)
        except OSError as exc:
            raise os_failure(exc, f"write {path}") from None

    def rename(self, source: str, target: str) -> None:
        try:
            os.replace(source, target)
        except OSError as exc:
            raise os_failure(exc, f"rename {source} to {target}") from None

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise os_failure(exc, f"remove {path}") from None

    def realpath(self, path: str) -> str | None:
        return os.path.realpath(path) if os.path.exists(path) else None

    def is_link(self, path: str) -> bool:
        return os.path.islink(path)

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """The profile's argument list, executed directly: no shell ever parses it."""
        try:
            done = subprocess.run(
                list(argv),
                shell=False,
                capture_output=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise ConnectorError(
                FailureClass.TIMEOUT,
                f"command {describe(argv)} did not finish within {timeout:.0f} s",
            ) from None
        except OSError as exc:
            return CommandResult(127, f"cannot run {describe(argv)}: {exc.strerror or exc}")
        output = (done.stdout + done.stderr).decode("utf-8", "replace")
        return CommandResult(done.returncode, output)


def check_folders(settings, exists, writable) -> list[str]:
    """Problems with the folders the files go to, as sentences."""
    problems = []
    for key in ("cert_path", "key_path", "chain_path"):
        path = settings.get(key)
        if not path:
            continue
        folder = str(Path(path).parent)
        if not exists(folder):
            problems.append(f"{key}: folder {folder} does not exist")
        elif not writable(folder):
            problems.append(f"{key}: folder {folder} is not writable")
    return problems


class LocalConnector(AppConnector):
    spec = LOCAL_SPEC

    def install(self, material: Material, *, reload_if_present: bool = False) -> InstallResult:
        return self._with_installer(
            lambda installer: installer.install(material, reload_if_present=reload_if_present)
        )

    def rollback(self) -> InstallResult:
        return self._with_installer(lambda installer: installer.rollback())

    def _with_installer(self, work: Callable[[FileInstaller], InstallResult]) -> InstallResult:
        if self.plan is None:
            return InstallResult(
                InstallOutcome.FAILED, "no push plan given: nothing is installed without one",
                FailureClass.CONFIG,
            )  # fmt: skip
        try:
            return work(FileInstaller(LocalFiles(), self.plan))
        except ConnectorError as exc:
            return InstallResult(InstallOutcome.FAILED, str(exc), exc.failure)

    def check(self) -> CheckResult:
        problems = check_folders(
            self.settings, os.path.isdir, lambda folder: os.access(folder, os.W_OK)
        )
        if problems:
            return CheckResult(False, "; ".join(problems), FailureClass.PERMISSION)
        return CheckResult(True, "the target folders exist and are writable")
