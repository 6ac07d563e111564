"""Calling Dash callbacks as plain functions, as a logged-in user, and reading what they render.

Shared by the callback tests (approval, reports, topology): a callback runs inside a Flask
request context with Flask-Login's user set, exactly as Dash would call it, so each test
exercises the role checks the callbacks make themselves.
"""

from __future__ import annotations

import json

from flask_login import login_user

from data.db import session_scope
from data.users import UserInfo


class ActingAs:
    """``with ActingAs(web, "maya", password):`` runs callbacks as that user; ``None``:
    nobody logged in; a UserInfo: that (possibly forged) user, without a password check."""

    def __init__(self, web, who: str | UserInfo | None, password: str):
        self.web, self.who, self.password = web, who, password

    def __enter__(self):
        from dashboard.auth import WebUser
        from data.users import authenticate

        self.context = self.web.test_request_context("/_dash-update-component", method="POST")
        self.context.push()
        if isinstance(self.who, UserInfo):
            login_user(WebUser(self.who))
        elif self.who:
            with session_scope(self.web.config["CERTPUSH_SETTINGS"].database_url) as db:
                login_user(WebUser(authenticate(db, self.who, self.password)))
        return self

    def __exit__(self, *exc):
        self.context.pop()


def component_text(component) -> str:
    """Everything a rendered component tree says, as one string to search in."""
    if component is None:
        return ""
    if isinstance(component, list | tuple):
        return " ".join(component_text(x) for x in component)
    if hasattr(component, "to_plotly_json"):
        return json.dumps(component.to_plotly_json(), default=_plain, ensure_ascii=False)
    return str(component)


def _plain(value):
    return value.to_plotly_json() if hasattr(value, "to_plotly_json") else str(value)
