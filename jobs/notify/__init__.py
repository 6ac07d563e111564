"""Sending what the outbox (data/notifications.py) holds: e-mail and Apprise channels."""
