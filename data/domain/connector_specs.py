"""What each connector type needs to be configured, and the validation of it.

Pure data, so the web form, the CLI and the API validate a connector the same
way without importing the code that talks to devices (jobs/connectors/). A
third-party type publishes its spec under the entry-point group
``certpush.connector_specs`` and its implementation under ``certpush.connectors``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from data.domain.errors import CertpushError

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConnectorConfigError(CertpushError):
    """A connector's settings are invalid; ``errors`` maps each field to its message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class FieldSpec:
    """One setting. ``kind`` picks the validation: text, path, command, int, bool, fingerprint."""

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    default: Any = None
    help: str = ""
    placeholder: str = ""


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector type as people configure it."""

    type: str
    label: str
    description: str
    fields: tuple[FieldSpec, ...]
    secret_kinds: tuple[str, ...] = ()  # e.g. ("private_key", "password"); empty: no secret
    secret_required: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def field_names(self) -> set[str]:
        return {f.name for f in self.fields}


@dataclass(frozen=True)
class EndpointSpec:
    """An address to probe: host (IPv4, IPv6 or DNS name), port, optional SNI name."""

    host: str
    port: int
    sni: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "sni": self.sni}

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" + (f" {self.sni}" if self.sni else "")


_FILE_FIELDS = (
    FieldSpec(
        "profile",
        "Device profile",
        "profile",
        required=True,
        placeholder="nginx",
        help="Defined by the administrator: the file layout, the test and reload commands, "
        "and the folders the files may go to.",
    ),
    FieldSpec(
        "cert_path",
        "Certificate file",
        "path",
        required=True,
        placeholder="/etc/nginx/tls/site.crt",
        help="Absolute path inside the profile's folders (combined and PKCS#12 layouts: "
        "the one file).",
    ),
    FieldSpec(
        "key_path",
        "Private key file",
        "path",
        placeholder="/etc/nginx/tls/site.key",
        help="Written with mode 0600 (separate and fullchain layouts).",
    ),
    FieldSpec(
        "chain_path",
        "Chain file",
        "path",
        placeholder="/etc/nginx/tls/chain.pem",
        help="Optional, separate layout: intermediate certificates found in the inventory.",
    ),
    FieldSpec("command_timeout", "Command timeout (s)", "int", default=60),
    FieldSpec("push_timeout", "Whole push timeout (s)", "int", default=180),
)

# Settings that once held free commands: refused, with the way to do it now.
RETIRED = {
    "test_command": "commands are no longer typed into a connector: choose a device profile "
    "(certpush profiles list); an administrator defines its test command",
    "reload_command": "commands are no longer typed into a connector: choose a device profile "
    "(certpush profiles list); an administrator defines its reload command",
    "fullchain": 'the file layout comes from the device profile (layout = "fullchain")',
}

LOCAL_SPEC = ConnectorSpec(
    type="local",
    label="Local files",
    description="Installs on the host certpush runs on (for a device co-hosted with "
    "certpush). Admins only, when the host allows it (CERTPUSH_LOCAL_CONNECTORS=on).",
    fields=_FILE_FIELDS,
)

SSH_SPEC = ConnectorSpec(
    type="ssh",
    label="SSH / SFTP",
    description="Uploads over SFTP and runs the profile's test and reload commands over SSH.",
    fields=(
        FieldSpec("host", "SSH host", "host", required=True, placeholder="10.0.0.5"),
        FieldSpec("port", "SSH port", "int", default=22),
        FieldSpec("username", "User name", "text", required=True, placeholder="deploy"),
        FieldSpec(
            "host_key_fingerprint",
            "Host key fingerprint",
            "fingerprint",
            placeholder="SHA256:…",
            help="As 'ssh-keygen -l' prints it. 'Test connection' shows the server's key.",
        ),
        FieldSpec("connect_timeout", "Connect timeout (s)", "int", default=10),
        *_FILE_FIELDS,
    ),
    secret_kinds=("private_key", "password"),
    secret_required=True,
)

BUILT_IN_SPECS: dict[str, ConnectorSpec] = {s.type: s for s in (SSH_SPEC, LOCAL_SPEC)}


def valid_name(name: str) -> str:
    """Connector names: short, no spaces, safe in a file name and a URL."""
    if not _NAME.match(name or ""):
        raise ConnectorConfigError(
            {"name": "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"}
        )
    return name


def _check_host(text: str) -> str | None:
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    if _HOSTNAME.match(text):
        return None
    return "not an IP address or host name"


def _coerce(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if spec.required:
            return None, "required"
        return spec.default, None
    if spec.kind == "int":
        try:
            number = int(value)
        except (TypeError, ValueError):
            return None, "must be a whole number"
        low, high = (1, 65535) if spec.name == "port" else (1, 3600)
        if not low <= number <= high:
            return None, f"must be between {low} and {high}"
        return number, None
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value, None
        return str(value).strip().lower() in ("1", "true", "yes", "on"), None
    text = str(value).strip()
    if "\x00" in text or "\n" in text:
        return None, "must be a single line"
    if spec.kind == "path":
        if not text.startswith("/"):
            return None, "must be an absolute path"
        if ".." in text.split("/"):
            return None, "must not contain '..'"
    if spec.kind == "host":
        problem = _check_host(text)
        if problem:
            return None, problem
    if spec.kind == "fingerprint" and not _FINGERPRINT.match(text):
        return None, "must look like SHA256:<43 base64 characters> (ssh-keygen -l)"
    return text[:1024], None


def validate_settings(spec: ConnectorSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Return clean settings for ``spec``; raise ConnectorConfigError listing every problem."""
    errors: dict[str, str] = {}
    unknown = set(raw) - spec.field_names()
    for name in sorted(unknown):
        errors[name] = RETIRED.get(name, f"unknown setting for a {spec.type} connector")
    clean: dict[str, Any] = {}
    for field_spec in spec.fields:
        value, problem = _coerce(field_spec, raw.get(field_spec.name))
        if problem:
            errors[field_spec.name] = problem
        elif value is not None:
            clean[field_spec.name] = value
    paths = [clean.get(k) for k in ("cert_path", "key_path", "chain_path") if clean.get(k)]
    if len(paths) != len(set(paths)):
        errors["key_path"] = "certificate, key and chain files must be different files"
    if errors:
        raise ConnectorConfigError(errors)
    return clean


def parse_endpoint(value: Any) -> EndpointSpec:
    """Accept {"host", "port", "sni"} or text "host:port [sni]" / "[v6]:port [sni]"."""
    if isinstance(value, Mapping):
        host, port, sni = value.get("host"), value.get("port"), value.get("sni")
    else:
        parts = str(value).split()
        if not parts or len(parts) > 2:
            raise ValueError(f"{value!r}: write host:port, optionally followed by an SNI name")
        address, sni = parts[0], (parts[1] if len(parts) == 2 else None)
        if address.startswith("["):
            host, _, rest = address[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = address.rpartition(":")
        if not host:
            raise ValueError(f"{value!r}: write host:port (IPv6 as [::1]:443)")
    host = str(host or "").strip().strip("[]")
    problem = _check_host(host) if host else "missing host"
    if problem:
        raise ValueError(f"{host!r}: {problem}")
    try:
        port_number = int(port)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{value!r}: the port must be a number") from None
    if not 1 <= port_number <= 65535:
        raise ValueError(f"{value!r}: the port must be between 1 and 65535")
    sni_text = str(sni).strip() if sni else None
    if sni_text and (_check_host(sni_text) or _is_ip(sni_text)):
        raise ValueError(f"{sni_text!r}: an SNI name must be a host name, not an address")
    return EndpointSpec(host, port_number, sni_text or None)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def parse_endpoints(values: Any) -> list[EndpointSpec]:
    """A list (JSON) or text with one endpoint per line; duplicates are dropped."""
    items = values.splitlines() if isinstance(values, str) else list(values or [])
    out: list[EndpointSpec] = []
    errors: dict[str, str] = {}
    for index, item in enumerate(items, start=1):
        if isinstance(item, str) and not item.strip():
            continue
        try:
            endpoint = parse_endpoint(item)
        except ValueError as exc:
            errors[f"endpoints[{index}]"] = str(exc)
            continue
        if endpoint not in out:
            out.append(endpoint)
    if errors:
        raise ConnectorConfigError(errors)
    return out
