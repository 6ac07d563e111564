"""A connector of another zone on the topology: its zone is named, and offline is shown."""

from __future__ import annotations

from dashboard.graph import connector_node
from data.domain.nodes import ConnectorState, ConnectorView


def _view(**kwargs) -> ConnectorView:
    return ConnectorView(1, "dmz-web", "ssh", ConnectorState.INSTALLED, (), **kwargs)


def test_the_local_zone_is_not_mentioned():
    node = connector_node(_view())
    assert "zone" not in node["data"]["label"]
    assert "zone-offline" not in node["classes"]


def test_an_offline_zone_is_said_and_drawn():
    online = connector_node(_view(zone="dmz"))
    assert "zone dmz" in online["data"]["label"] and "offline" not in online["data"]["label"]
    offline = connector_node(_view(zone="dmz", zone_offline=True))
    assert "zone dmz · offline" in offline["data"]["label"]
    assert "zone-offline" in offline["classes"].split()
    assert "no live agent" in offline["data"]["title"]
    assert ["Zone", "dmz (offline)"] in offline["data"]["details"]
