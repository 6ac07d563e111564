"""One message to one admin-defined channel, through Apprise (Slack, Teams workflows,
JSON webhooks and the many other services it speaks).

The channel's URL carries its secret (a token, a password): it is opened from the vault
only here, handed to Apprise and never logged; Apprise's own log is kept quiet, since it
may echo the URL when a send fails.
"""

from __future__ import annotations

import logging
from pathlib import Path

from data.domain.errors import CertpushError


class ChannelError(CertpushError):
    """A channel refused or could not take a message (the reason holds no secret)."""


def send_channel(
    url: str,
    *,
    title: str,
    body: str,
    attachments: list[Path] | None = None,
    timeout: float = 10.0,
) -> None:
    """Deliver one message; raises ChannelError (without the URL) when it did not go."""
    import apprise

    logging.getLogger("apprise").setLevel(logging.CRITICAL)
    asset = apprise.AppriseAsset(async_mode=False)
    target = apprise.Apprise(asset=asset)
    if not target.add(url):
        raise ChannelError("Apprise does not understand this channel's URL")
    for server in target:
        # Apprise's default is to wait long on a dead host; a notifier must move on.
        for name in ("socket_connect_timeout", "socket_read_timeout"):
            if hasattr(server, name):
                setattr(server, name, timeout)
    attach = None
    if attachments:
        attach = apprise.AppriseAttachment()
        for path in attachments:
            attach.add(str(path))
    if not target.notify(title=title, body=body, attach=attach):
        raise ChannelError("the channel did not accept the message (see its service's status)")
