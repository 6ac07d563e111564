"""The Notifications page: the logged-in user's address and choices; admins' channels
and the outbox.

Whose address and choices is never read from the browser: it is the user of the
server-side session (``acting_user``). The channel callbacks check for an admin here
and data/notifications.py checks again; a forged call from another role is refused and
audited. A channel test is sent by the scheduler (the web process never opens a
channel's URL), and its answer is polled like a connection test.
"""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, no_update

from dashboard import ids
from dashboard.auth import acting_user, now, settings
from dashboard.components.notifications import channel_table, outbox_table, preference_table
from data import audit
from data import notifications as service
from data.crypto import load_vault
from data.db import session_scope
from data.domain.errors import AuthError, CertpushError, PermissionDenied
from data.domain.roles import Role
from data.tasks import DONE, get_task
from data.users import UserInfo

WAITING = ("pending", "sending", "digest", "failed")
OUTBOX_ROWS = 200


def _admin(what: str) -> UserInfo:
    """The logged-in admin, or PermissionDenied (audited by the caller)."""
    user = acting_user()
    if user.role is not Role.ADMIN:
        raise PermissionDenied(f"{what}: admins only")
    return user


def _refused(action: str, target: str, exc: Exception) -> None:
    """A refused call is audited: the page never offers it, so someone forged it."""
    try:
        who = acting_user().username
    except AuthError:
        who = "anonymous"
    with session_scope(settings().database_url) as db:
        audit.record(db, actor=who, action=f"{action}.refused", now=now(), target=target[:64],
                     detail=str(exc))  # fmt: skip


# ----------------------------------------------------------------------- every user


@callback(
    Output(ids.NOTIFY_EMAIL, "value"),
    Output(ids.NOTIFY_PREFS, "children"),
    Output(ids.NOTIFY_ADMIN, "hidden"),
    Input(ids.URL, "pathname"),
)
def my_settings(_path: str | None) -> tuple[Any, ...]:
    """The user's address and choices; the admin section is revealed to admins only.
    Saving one of them answers with it alone, so the other's unsaved edits stay."""
    try:
        user = acting_user()
    except AuthError as exc:
        return "", str(exc), True
    with session_scope(settings().database_url) as db:
        address = service.user_address(db, user.username)
        found = service.preferences(db, user.username)
        defaults = service.default_modes(db, user.username)
    return address or "", preference_table(found, defaults), user.role is not Role.ADMIN


def _my_choices(username: str) -> Any:
    with session_scope(settings().database_url) as db:
        found = service.preferences(db, username)
        defaults = service.default_modes(db, username)
    return preference_table(found, defaults)


@callback(
    Output(ids.NOTIFY_MESSAGE, "children", allow_duplicate=True),
    Output(ids.NOTIFY_MESSAGE, "color", allow_duplicate=True),
    Output(ids.NOTIFY_MESSAGE, "is_open", allow_duplicate=True),
    Output(ids.NOTIFY_EMAIL, "value", allow_duplicate=True),
    Input(ids.NOTIFY_EMAIL_SAVE, "n_clicks"),
    State(ids.NOTIFY_EMAIL, "value"),
    prevent_initial_call=True,
)
def save_email(clicks: int | None, address: str | None) -> tuple[Any, ...]:
    """Set (or, empty, remove) the logged-in user's own address."""
    if not clicks:
        return (no_update,) * 4
    try:
        user = acting_user()
        with session_scope(settings().database_url) as db:
            found = service.change_email(db, user.username, (address or "").strip(),
                                         actor=user.username, role=user.role.value,
                                         now=now())  # fmt: skip
    except CertpushError as exc:
        return str(exc), "danger", True, no_update
    said = f"Your address is {found}." if found else "You have no e-mail address any more."
    return said, "success", True, found or ""


@callback(
    Output(ids.NOTIFY_MESSAGE, "children", allow_duplicate=True),
    Output(ids.NOTIFY_MESSAGE, "color", allow_duplicate=True),
    Output(ids.NOTIFY_MESSAGE, "is_open", allow_duplicate=True),
    Output(ids.NOTIFY_PREFS, "children", allow_duplicate=True),
    Input(ids.NOTIFY_PREFS_SAVE, "n_clicks"),
    State(ids.notify_pref(ALL), "value"),
    State(ids.notify_pref(ALL), "id"),
    prevent_initial_call=True,
)
def save_choices_clicked(clicks: int | None, values: list, names: list) -> tuple[Any, ...]:
    if not clicks:
        return (no_update,) * 4
    chosen = {str(i.get("kind")): str(v) for i, v in zip(names or [], values or [], strict=False)}
    return save_choices(chosen)


def save_choices(chosen: dict[str, str]) -> tuple[Any, ...]:
    """Store the logged-in user's choices that changed (kind -> now/digest/off/default)."""
    try:
        user = acting_user()
        changed = []
        with session_scope(settings().database_url) as db:
            current = {p.kind.value: p for p in service.preferences(db, user.username)}
            for kind, mode in chosen.items():
                before = current.get(kind)
                was = before.mode.value if before and before.chosen else "default"
                if before is not None and mode == was:
                    continue
                done = service.change_preference(db, user.username, kind, mode,
                                                 actor=user.username, role=user.role.value,
                                                 now=now())  # fmt: skip
                changed.append(f"{done.kind.value}: {mode}")
    except CertpushError as exc:
        return str(exc), "danger", True, no_update
    if not changed:
        return "Nothing changed.", "secondary", True, no_update
    return f"Saved ({'; '.join(changed)}).", "success", True, _my_choices(user.username)


# ----------------------------------------------------------------------------- admins


@callback(
    Output(ids.NOTIFY_CHANNELS, "children"),
    Output(ids.NOTIFY_OUTBOX, "children"),
    Input(ids.NOTIFY_REFRESH, "data"),
    Input(ids.URL, "pathname"),
)
def admin_tables(_refresh: Any, _path: str | None) -> tuple[Any, Any]:
    """The channels (never a URL) and the outbox's waiting and failed deliveries."""
    try:
        _admin("the channels and the outbox")
    except (AuthError, PermissionDenied) as exc:
        return str(exc), None
    with session_scope(settings().database_url) as db:
        channels = service.list_channels(db)
        deliveries = service.outbox(db, WAITING, limit=OUTBOX_ROWS)
    return channel_table(channels), outbox_table(deliveries)


_CHANNEL_MESSAGE = (
    Output(ids.NOTIFY_CHANNEL_MESSAGE, "children", allow_duplicate=True),
    Output(ids.NOTIFY_CHANNEL_MESSAGE, "color", allow_duplicate=True),
    Output(ids.NOTIFY_CHANNEL_MESSAGE, "is_open", allow_duplicate=True),
)


@callback(
    *_CHANNEL_MESSAGE,
    Output(ids.NOTIFY_CHANNEL_URL, "value"),
    Output(ids.NOTIFY_CHANNEL_NAME, "value"),
    Output(ids.NOTIFY_CHANNEL_EVENTS, "value"),
    Output(ids.NOTIFY_REFRESH, "data", allow_duplicate=True),
    Input(ids.NOTIFY_CHANNEL_ADD, "n_clicks"),
    State(ids.NOTIFY_CHANNEL_NAME, "value"),
    State(ids.NOTIFY_CHANNEL_URL, "value"),
    State(ids.NOTIFY_CHANNEL_EVENTS, "value"),
    prevent_initial_call=True,
)
def add_channel_clicked(
    clicks: int | None, name: str | None, url: str | None, events: list[str] | None
) -> tuple[Any, ...]:
    if not clicks:
        return (no_update,) * 7
    return add_channel(name or "", url or "", events or [])


def add_channel(name: str, url: str, events: list[str]) -> tuple[Any, ...]:
    """Add a channel as the logged-in admin. The URL field is emptied whatever happens:
    the secret does not stay in the page. Added, the form starts afresh."""
    try:
        user = _admin("adding a notification channel")
    except PermissionDenied as exc:
        _refused("notify.channel.add", name, exc)
        return f"Refused: {exc}.", "danger", True, "", no_update, no_update, no_update
    except AuthError as exc:
        return str(exc), "danger", True, "", no_update, no_update, no_update
    try:
        with session_scope(settings().database_url) as db:
            info = service.add_channel(db, load_vault(settings()), name=name.strip(), url=url,
                                       events=events or "all", actor=user.username,
                                       role=user.role.value, now=now())  # fmt: skip
    except CertpushError as exc:
        return str(exc), "danger", True, "", no_update, no_update, no_update
    said = f"Channel {info.name} ({info.scheme}) added; its URL is sealed and not shown again."
    return said, "success", True, "", "", [], {"channel": info.name}


@callback(
    *_CHANNEL_MESSAGE,
    Output(ids.NOTIFY_REFRESH, "data", allow_duplicate=True),
    Input(ids.notify_channel_remove(ALL), "submit_n_clicks"),
    prevent_initial_call=True,
)
def remove_clicked(clicks: list[int | None]) -> tuple[Any, ...]:
    """The confirmed Remove of one row (a re-rendered table calls this unclicked)."""
    name = _clicked(clicks)
    if name is None:
        return (no_update,) * 4
    return remove_channel(name)


def remove_channel(name: str) -> tuple[Any, ...]:
    try:
        user = _admin("removing a notification channel")
    except PermissionDenied as exc:
        _refused("notify.channel.remove", name, exc)
        return f"Refused: {exc}.", "danger", True, no_update
    except AuthError as exc:
        return str(exc), "danger", True, no_update
    try:
        with session_scope(settings().database_url) as db:
            service.remove_channel(db, name, actor=user.username, role=user.role.value,
                                   now=now())  # fmt: skip
    except CertpushError as exc:
        return str(exc), "danger", True, no_update
    return f"Channel {name} removed.", "success", True, {"removed": name}


@callback(
    *_CHANNEL_MESSAGE,
    Output(ids.NOTIFY_TEST_TASK, "data"),
    Output(ids.NOTIFY_TEST_POLL, "disabled"),
    Output(ids.NOTIFY_TEST_POLL, "n_intervals"),
    Input(ids.notify_channel_test(ALL), "n_clicks"),
    prevent_initial_call=True,
)
def test_clicked(clicks: list[int | None]) -> tuple[Any, ...]:
    name = _clicked(clicks)
    if name is None:
        return (no_update,) * 6
    return queue_test(name)


def queue_test(name: str) -> tuple[Any, ...]:
    """Ask the scheduler to send a test message to ``name``; the poll shows its answer."""
    try:
        user = _admin("testing a notification channel")
    except PermissionDenied as exc:
        _refused("notify.channel.test", name, exc)
        return f"Refused: {exc}.", "danger", True, None, True, 0
    except AuthError as exc:
        return str(exc), "danger", True, None, True, 0
    try:
        with session_scope(settings().database_url) as db:
            task_id = service.queue_channel_test(db, name, actor=user.username,
                                                 role=user.role.value, now=now())  # fmt: skip
    except CertpushError as exc:
        return str(exc), "danger", True, None, True, 0
    return f"Sending a test message to {name}…", "light", True, {"id": task_id}, False, 0


@callback(
    *_CHANNEL_MESSAGE,
    Output(ids.NOTIFY_TEST_POLL, "disabled", allow_duplicate=True),
    Input(ids.NOTIFY_TEST_POLL, "n_intervals"),
    State(ids.NOTIFY_TEST_TASK, "data"),
    State(ids.NOTIFY_TEST_POLL, "max_intervals"),
    prevent_initial_call=True,
)
def poll_test(n: int | None, task: dict | None, max_intervals: int | None) -> tuple[Any, ...]:
    """The scheduler's answer to the test; only the admin who asked may read it."""
    if not task:
        return no_update, no_update, no_update, True
    try:
        user = _admin("testing a notification channel")
        with session_scope(settings().database_url) as db:
            view = get_task(db, int(task["id"]), actor=user.username)
    except CertpushError as exc:
        return str(exc), "danger", True, True
    if view.status == DONE and view.result is not None:
        ok = bool(view.result.get("ok"))
        return str(view.result.get("message", "")), "success" if ok else "danger", True, True
    if n and max_intervals and n >= max_intervals - 1:
        return ("No answer from the scheduler process: is it running ('certpush scheduler')?",
                "danger", True, True)  # fmt: skip
    return no_update, no_update, no_update, False


def _clicked(clicks: list[int | None] | None) -> str | None:
    """The channel whose button really triggered (not a re-rendered, unclicked one)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict):
        return None
    items = ctx.inputs_list[0] if ctx.inputs_list else []
    for item, n in zip(items, clicks or [], strict=False):
        if item.get("id") == trigger and n:
            return str(trigger.get("channel", ""))
    return None
