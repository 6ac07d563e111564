"""The API tokens page: the logged-in user's own tokens, made and revoked here.

Whose tokens is never read from the browser: every callback takes the user from the
server-side session (``acting_user``) and hands their name and role to
data/api_tokens.py, which lets users manage only their own tokens.
"""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, no_update

from dashboard import ids
from dashboard.auth import acting_user, now, settings
from dashboard.components.tokens import token_table
from data import audit
from data.api_tokens import create_token, list_tokens, revoke_token
from data.db import session_scope
from data.domain.api_tokens import parse_lifetime
from data.domain.errors import AuthError, CertpushError, PermissionDenied


@callback(
    Output(ids.TOKENS_TABLE, "children"),
    Input(ids.TOKENS_REFRESH, "data"),
    Input(ids.URL, "pathname"),
)
def token_rows(_refresh: Any, _path: str | None) -> Any:
    """The acting user's tokens, newest first (never a secret or a digest)."""
    try:
        user = acting_user()
    except AuthError as exc:
        return str(exc)
    with session_scope(settings().database_url) as db:
        tokens = list_tokens(db, user.username)
    return token_table(tokens, now())


@callback(
    Output(ids.TOKENS_SECRET, "value"),
    Output(ids.TOKENS_SECRET_PANEL, "is_open"),
    Output(ids.TOKENS_CREATE_MESSAGE, "children"),
    Output(ids.TOKENS_CREATE_MESSAGE, "is_open"),
    Output(ids.TOKENS_NAME, "value"),
    Output(ids.TOKENS_REFRESH, "data", allow_duplicate=True),
    Input(ids.TOKENS_CREATE, "n_clicks"),
    State(ids.TOKENS_NAME, "value"),
    State(ids.TOKENS_SCOPE, "value"),
    State(ids.TOKENS_EXPIRES, "value"),
    prevent_initial_call=True,
)
def create_own_token(
    clicks: int | None, name: str | None, scope: str | None, expires: str | None
) -> tuple[Any, ...]:
    """Make a token for the logged-in user and show its secret, this once."""
    if not clicks:
        return (no_update,) * 6
    try:
        user = acting_user()
        at = now()
        with session_scope(settings().database_url) as db:
            info, secret = create_token(
                db, user.username, name or "", scope=scope or "read",
                lifetime=parse_lifetime(expires), actor=user.username,
                actor_role=user.role.value, now=at,
            )  # fmt: skip
    except CertpushError as exc:
        return "", False, str(exc), True, no_update, no_update
    return secret, True, "", False, "", {"created": info.id}


@callback(
    Output(ids.TOKENS_MESSAGE, "children"),
    Output(ids.TOKENS_MESSAGE, "color"),
    Output(ids.TOKENS_MESSAGE, "is_open"),
    Output(ids.TOKENS_REFRESH, "data", allow_duplicate=True),
    Input(ids.token_revoke(ALL), "submit_n_clicks"),
    prevent_initial_call=True,
)
def revoke_clicked(clicks: list[int | None]) -> tuple[Any, ...]:
    """The confirmed Revoke of one row. Re-rendering the table may call this with the new
    buttons unclicked: only a confirmed click acts."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not _confirmed(trigger, clicks):
        return (no_update,) * 4
    return revoke_own_token(trigger.get("token"))


def revoke_own_token(token_id: Any) -> tuple[Any, ...]:
    """Revoke a token as the logged-in user. The id comes from the browser, so it may name
    anyone's token: data/api_tokens.py refuses another user's (unless an admin acts), and
    the refusal is audited."""
    try:
        user = acting_user()
        wanted = int(token_id)
    except AuthError as exc:
        return str(exc), "danger", True, no_update
    except (TypeError, ValueError):
        return "Cannot tell which token to revoke: reload the page.", "danger", True, no_update
    at = now()
    try:
        with session_scope(settings().database_url) as db:
            info = revoke_token(db, wanted, actor=user.username, actor_role=user.role.value,
                                now=at)  # fmt: skip
    except PermissionDenied as exc:
        with session_scope(settings().database_url) as db:
            audit.record(db, actor=user.username, action="token.revoke.refused", now=at,
                         target=f"token {wanted}", detail=str(exc))  # fmt: skip
        return f"Refused: {exc}.", "danger", True, no_update
    except CertpushError as exc:
        return str(exc), "danger", True, no_update
    said = f"Revoked {info.prefix} ({info.name}): it is refused from its next call on."
    return said, "success", True, {"revoked": info.id, "at": at.isoformat()}


def _confirmed(trigger: dict, clicks: list[int | None] | None) -> bool:
    """Whether the pattern-matched Revoke that triggered was really confirmed."""
    items = ctx.inputs_list[0] if ctx.inputs_list else []
    for item, n in zip(items, clicks or [], strict=False):
        if item.get("id") == trigger:
            return bool(n)
    return False
