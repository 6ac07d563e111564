"""The ``ssh`` connector: SFTP upload, then the test and reload commands over SSH.

Host keys are pinned: the operator accepts a fingerprint when adding the
connector ("Test connection" shows what the server presents); an unknown or
changed key is refused before any credential is sent.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import os
import shlex
import socket
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import PurePosixPath

import paramiko

from data.domain.connector_specs import SSH_SPEC
from jobs.connectors.base import (
    AppConnector,
    CheckResult,
    ConnectorError,
    FailureClass,
    InstallOutcome,
    InstallResult,
    Material,
)
from jobs.connectors.files import CommandResult, FileInstaller, os_failure
from jobs.connectors.local import check_folders

# paramiko logs every failed negotiation as an ERROR with a traceback; our attempt rows
# already say what happened, in words.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class HostKeyError(ConnectorError):
    """The server's host key is unknown or changed; carries what it presented."""

    def __init__(self, message: str, fingerprint: str, key_type: str):
        super().__init__(FailureClass.HOST_KEY, message)
        self.fingerprint = fingerprint
        self.key_type = key_type


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """The fingerprint as ``ssh-keygen -l`` prints it: SHA256:<base64, no padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def load_private_key(text: bytes) -> paramiko.PKey:
    """Read an OpenSSH or PEM private key of any common type."""
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text.decode("utf-8", "replace")))
        except (paramiko.SSHException, ValueError):
            continue
    raise ConnectorError(
        FailureClass.CONFIG,
        "the stored SSH private key cannot be read (unencrypted OpenSSH or PEM; "
        "Ed25519, ECDSA or RSA)",
    )


class SftpFiles:
    """FileTransport over an authenticated SSH transport."""

    def __init__(self, transport: paramiko.Transport, timeout: float):
        self.transport = transport
        self.sftp = paramiko.SFTPClient.from_transport(transport)
        self.sftp.get_channel().settimeout(timeout)

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except TimeoutError:
            raise ConnectorError(FailureClass.TIMEOUT, f"timed out trying to {what}") from None
        except OSError as exc:
            raise os_failure(exc, what) from None
        except (paramiko.SSHException, EOFError) as exc:
            raise ConnectorError(FailureClass.UNREACHABLE, f"cannot {what}: {exc}") from None

    def read(self, path: str) -> bytes | None:
        with self._errors(f"read {path}"):
            try:
                with self.sftp.open(path, "rb") as handle:
                    return handle.read()
            except FileNotFoundError:
                return None

    def write(self, path: str, data: bytes, mode: int) -> None:
        with self._errors(f"write {path}"), self.sftp.open(path, "wb") as handle:
            handle.chmod(mode)  # before any byte is written: a key is never world-readable
            handle.write(data)

    def rename(self, source: str, target: str) -> None:
        with self._errors(f"rename {source} to {target}"):
            self.sftp.posix_rename(source, target)

    def remove(self, path: str) -> None:
        with self._errors(f"remove {path}"), contextlib.suppress(FileNotFoundError):
            self.sftp.remove(path)

    def exists(self, folder: str) -> bool:
        try:
            self.sftp.stat(folder)
            return True
        except OSError:
            return False

    def writable(self, folder: str) -> bool:
        probe = str(PurePosixPath(folder) / f".certpush-probe-{os.urandom(4).hex()}")
        try:
            with self.sftp.open(probe, "wb"):
                pass
            self.sftp.remove(probe)
            return True
        except OSError:
            return False

    def realpath(self, path: str) -> str | None:
        try:
            return self.sftp.normalize(path)
        except OSError:
            return None

    def is_link(self, path: str) -> bool:
        try:
            return stat.S_ISLNK(self.sftp.lstat(path).st_mode or 0)
        except OSError:
            return False

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """The profile's argument list, each argument quoted: the device's shell (SSH
        always hands a command line to one) gets exactly these arguments, nothing else."""
        command = shlex.join(argv)
        deadline = time.monotonic() + timeout
        try:
            channel = self.transport.open_session(timeout=timeout)
            channel.settimeout(timeout)
            channel.set_combine_stderr(True)
            channel.exec_command(command)
            chunks: list[bytes] = []
            while not channel.exit_status_ready() or channel.recv_ready():
                if time.monotonic() > deadline:
                    channel.close()
                    raise ConnectorError(
                        FailureClass.TIMEOUT,
                        f"command {command!r} did not finish within {timeout:.0f} s",
                    )
                if channel.recv_ready():
                    chunks.append(channel.recv(65536))
                else:
                    time.sleep(0.02)
            code = channel.recv_exit_status()
            channel.close()
        except TimeoutError:
            raise ConnectorError(
                FailureClass.TIMEOUT, f"command {command!r} did not finish within {timeout:.0f} s"
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectorError(
                FailureClass.UNREACHABLE, f"lost the SSH connection running {command!r}: {exc}"
            ) from None
        return CommandResult(code, b"".join(chunks).decode("utf-8", "replace"))


class SshConnector(AppConnector):
    spec = SSH_SPEC

    def _where(self) -> str:
        return f"{self.settings['host']}:{self.settings.get('port', 22)}"

    def _connect(self) -> paramiko.Transport:
        host, port = self.settings["host"], int(self.settings.get("port", 22))
        timeout = float(self.settings.get("connect_timeout", 10))
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError:
            raise ConnectorError(
                FailureClass.TIMEOUT, f"no answer from {self._where()} within {timeout:.0f} s"
            ) from None
        except ConnectionRefusedError:
            raise ConnectorError(
                FailureClass.UNREACHABLE, f"{self._where()} refused the connection"
            ) from None
        except socket.gaierror as exc:
            raise ConnectorError(
                FailureClass.UNREACHABLE, f"cannot resolve {host}: {exc.strerror}"
            ) from None
        except OSError as exc:
            raise ConnectorError(
                FailureClass.UNREACHABLE, f"cannot reach {self._where()}: {exc.strerror or exc}"
            ) from None
        transport = paramiko.Transport(sock)
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        try:
            transport.start_client(timeout=timeout)
            if not transport.initial_kex_done:
                # start_client returns quietly at its timeout: nothing was negotiated
                raise TimeoutError
            key = transport.get_remote_server_key()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            if "banner" in str(exc).lower() or isinstance(exc, TimeoutError):
                raise ConnectorError(
                    FailureClass.TIMEOUT,
                    f"{self._where()} accepted the connection but did not speak SSH "
                    f"within {timeout:.0f} s",
                ) from None
            raise ConnectorError(
                FailureClass.UNREACHABLE, f"SSH negotiation with {self._where()} failed: {exc}"
            ) from None
        presented = host_key_fingerprint(key)
        expected = self.settings.get("host_key_fingerprint")
        if expected != presented:
            transport.close()
            if not expected:
                message = (
                    f"unknown host key: {self._where()} presents {key.get_name()} {presented}. "
                    "Check it with the device's owner, then accept it as the connector's "
                    "host key fingerprint"
                )
            else:
                message = (
                    f"host key changed: expected {expected}, {self._where()} presents "
                    f"{presented}. Refusing to connect: the device may have been rebuilt, "
                    "or someone is intercepting the connection"
                )
            raise HostKeyError(message, presented, key.get_name())
        username = self.settings["username"]
        try:
            if self.secret_kind == "password":
                transport.auth_password(username, (self._secret or b"").decode(), fallback=False)
            else:
                transport.auth_publickey(username, load_private_key(self._secret or b""))
        except paramiko.AuthenticationException:
            transport.close()
            raise ConnectorError(
                FailureClass.AUTH,
                f"authentication as {username!r} on {self._where()} failed: the server "
                f"refused the {self.secret_kind or 'private key'}",
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise ConnectorError(
                FailureClass.AUTH, f"authentication on {self._where()} failed: {exc}"
            ) from None
        return transport

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
            transport = self._connect()
        except ConnectorError as exc:
            return InstallResult(InstallOutcome.FAILED, str(exc), exc.failure)
        try:
            files = SftpFiles(transport, self.plan.command_timeout)
            return work(FileInstaller(files, self.plan))
        except ConnectorError as exc:
            return InstallResult(InstallOutcome.FAILED, str(exc), exc.failure)
        finally:
            transport.close()

    def check(self) -> CheckResult:
        try:
            transport = self._connect()
        except HostKeyError as exc:
            return CheckResult(False, str(exc), exc.failure, exc.fingerprint, exc.key_type)
        except ConnectorError as exc:
            return CheckResult(False, str(exc), exc.failure)
        try:
            key = transport.get_remote_server_key()
            files = SftpFiles(transport, float(self.settings.get("command_timeout", 60)))
            problems = check_folders(self.settings, files.exists, files.writable)
            fingerprint, key_type = host_key_fingerprint(key), key.get_name()
            if problems:
                return CheckResult(
                    False, "; ".join(problems), FailureClass.PERMISSION, fingerprint, key_type
                )
            return CheckResult(
                True,
                f"logged in to {self._where()} as {self.settings['username']}; "
                "the target folders are writable",
                None,
                fingerprint,
                key_type,
            )
        except ConnectorError as exc:
            return CheckResult(False, str(exc), exc.failure)
        finally:
            transport.close()
