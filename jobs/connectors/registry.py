"""Finding connector implementations: built-ins plus entry points."""

from __future__ import annotations

from importlib.metadata import entry_points

from data.domain.connector_specs import ConnectorConfigError
from jobs.connectors.base import AppConnector

GROUP = "certpush.connectors"


def connector_types() -> dict[str, type[AppConnector]]:
    """Every installed connector type by name. Entry points cannot replace built-ins."""
    from jobs.connectors.local import LocalConnector
    from jobs.connectors.ssh import SshConnector

    types: dict[str, type[AppConnector]] = {
        SshConnector.spec.type: SshConnector,
        LocalConnector.spec.type: LocalConnector,
    }
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, AppConnector):
            types.setdefault(cls.spec.type, cls)
    return types


def connector_class(type_name: str) -> type[AppConnector]:
    types = connector_types()
    if type_name not in types:
        raise ConnectorConfigError(
            {"type": f"no implementation installed for connector type {type_name!r}"}
        )
    return types[type_name]
