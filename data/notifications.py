"""The notification outbox: events written with the change behind them, and their
deliveries; users' addresses and choices; admins' channels (sealed URLs).

``emit`` runs inside the caller's transaction, so an event exists exactly when its change
does. It resolves the recipients at once (one delivery row per event and recipient,
unique), and the notifier (jobs/notify) sends them later with retries. Nothing here
sends anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from data import audit
from data.crypto import Vault
from data.domain.errors import CertpushError, NotFound, PermissionDenied
from data.domain.notifications import (
    CHOOSABLE,
    MAX_ATTEMPTS,
    EventKind,
    Mode,
    NotifyError,
    Relevance,
    backoff,
    check_channel_name,
    check_email,
    choose_mode,
    parse_kinds,
    role_relevance,
    usual_modes,
    work_order_events,
)
from data.domain.roles import Role
from data.domain.workflow import request_id, work_order_id
from data.models import (
    Certificate,
    Connector,
    NotificationDelivery,
    NotificationEvent,
    NotificationPref,
    NotifyChannel,
    NotifyState,
    PushRequest,
    User,
    WorkOrder,
    WorkOrderEvent,
)
from data.sealed import open_sealed
from data.tasks import queue_task

USER = "user:"
CHANNEL = "channel:"


def channel_context(name: str) -> str:
    return f"notify-channel:{name}"


# ----------------------------------------------------------------------------- emitting


def emit(
    session: Session,
    kind: EventKind,
    *,
    now: datetime,
    payload: Mapping[str, Any],
    actor: str = "",
    work_order: int | None = None,
    audience: Mapping[str, Relevance] | None = None,
    only: Iterable[str] | None = None,
) -> int:
    """Write one event and its deliveries; returns the event id.

    ``audience``: users concerned by this very event and why (their default comes from
    it); every other user with an address hears of it only if they chose this kind.
    ``only``: restrict to these usernames (a digest is for one user).
    """
    event = NotificationEvent(
        kind=kind.value,
        at=now,
        actor=actor[:64],
        work_order_id=work_order,
        payload=json.dumps(dict(payload), default=str),
    )
    session.add(event)
    session.flush()
    audience = dict(audience or {})
    users = session.execute(
        select(User.id, User.username, User.role).where(
            User.active.is_(True), User.service.is_(False), User.email.is_not(None)
        )
    ).all()
    if only is not None:
        wanted = set(only)
        users = [u for u in users if u.username in wanted]
    chosen = {
        user_id: Mode(mode)
        for user_id, mode in session.execute(
            select(NotificationPref.user_id, NotificationPref.mode).where(
                NotificationPref.kind == kind.value
            )
        )
    }
    for user in users:
        relevance = audience.get(user.username) or role_relevance(kind, user.role)
        mode = choose_mode(kind, chosen.get(user.id), relevance)
        if mode is Mode.OFF:
            continue
        session.add(
            NotificationDelivery(
                event_id=event.id,
                recipient=USER + user.username,
                mode=mode.value,
                state="pending" if mode is Mode.NOW else "digest",
                next_attempt_at=now,
            )
        )
    if only is None:
        for name, events in session.execute(select(NotifyChannel.name, NotifyChannel.events)):
            if kind.value in json.loads(events or "[]"):
                session.add(
                    NotificationDelivery(
                        event_id=event.id,
                        recipient=CHANNEL + name,
                        mode="now",
                        state="pending",
                        next_attempt_at=now,
                    )
                )
    session.flush()
    return event.id


def work_order_payload(session: Session, wo_id: int) -> tuple[dict[str, Any], str, int]:
    """What messages about a work order show, its requester and its levels done."""
    row = session.execute(
        select(WorkOrder, PushRequest, Certificate, Connector)
        .join(PushRequest, PushRequest.id == WorkOrder.request_id)
        .join(Certificate, Certificate.id == PushRequest.certificate_id)
        .join(Connector, Connector.id == WorkOrder.connector_id)
        .where(WorkOrder.id == wo_id)
    ).one()
    wo, request, cert, connector = row
    payload = {
        "work_order": work_order_id(wo.id),
        "request": request_id(request.id),
        "requester": request.requester,
        "status": wo.status,
        "run_at": wo.run_at.isoformat() if wo.run_at else None,
        "reason": (wo.reason or "")[:1000],
        "request_comment": (request.comment or "")[:1000],
        "certificate": {
            "common_name": cert.common_name or cert.subject,
            "fingerprint": cert.fingerprint_sha256,
            "not_after": cert.not_after.isoformat(),
        },
        "connector": {"name": connector.name, "zone": connector.zone or "local"},
        "path": f"/certificates/{cert.fingerprint_sha256}/topology",
    }
    return payload, request.requester, wo.levels_done


def work_order_changed(
    session: Session,
    wo_id: int,
    *,
    action: str,
    before: str | None,
    after: str | None,
    actor: str,
    comment: str,
    now: datetime,
) -> list[int]:
    """The events of one recorded move of a work order (called where the move is recorded,
    in data/workorders.py, so in its transaction)."""
    wo = session.get(WorkOrder, wo_id)
    runs_later = bool(wo and wo.run_at and wo.run_at > now + timedelta(minutes=1))
    kinds = work_order_events(action, before, after, runs_later=runs_later)
    if not kinds:
        return []
    payload, requester, levels_done = work_order_payload(session, wo_id)
    payload.update(actor=actor, action=action, comment=(comment or "")[:1000], at=now.isoformat())
    made = []
    for kind in kinds:
        if kind is EventKind.APPROVAL_NEEDED:
            from data.workorders import load_policy

            level = load_policy(session).level_at(levels_done)
            audience = {
                name: Relevance.MAY_ACT
                for name in _next_actors(session, wo_id, requester, level.role)
            }
            payload = {**payload, "level": level.name}
        else:
            audience = {requester: Relevance.REQUESTER}
        made.append(
            emit(
                session,
                kind,
                now=now,
                payload={"event": kind.value, **payload},
                actor=actor,
                work_order=wo_id,
                audience=audience,
            )
        )
    return made


def _next_actors(session: Session, wo_id: int, requester: str, role: str) -> list[str]:
    """Who may take the next step: the level's role, minus the requester and whoever
    approved an earlier level (four eyes). Admins, who may act at every level, hear of it
    only if they choose to."""
    approvers = set(
        session.scalars(
            select(WorkOrderEvent.actor).where(
                WorkOrderEvent.work_order_id == wo_id, WorkOrderEvent.action == "approve"
            )
        )
    )
    names = session.scalars(
        select(User.username).where(
            User.active.is_(True), User.service.is_(False), User.role == role
        )
    )
    return [n for n in names if n != requester and n not in approvers]


# ------------------------------------------------------------------------ users' choices


def set_email(
    session: Session, username: str, email: str | None, *, actor: str, now: datetime
) -> str | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    user.email = check_email(email) if email else None
    audit.record(
        session,
        actor=actor,
        action="user.email",
        now=now,
        target=username,
        detail="set" if user.email else "removed",
    )
    return user.email


@dataclass(frozen=True)
class Preference:
    kind: EventKind
    mode: Mode
    chosen: bool  # False: the default applies


def preferences(session: Session, username: str) -> list[Preference]:
    """Every choosable kind with the user's mode (their choice, else their default)."""
    user = _user(session, username)
    chosen = {
        kind: Mode(mode)
        for kind, mode in session.execute(
            select(NotificationPref.kind, NotificationPref.mode).where(
                NotificationPref.user_id == user.id
            )
        )
    }
    found = []
    defaults = default_modes(session, username)
    for kind in CHOOSABLE:
        if kind.value in chosen:
            found.append(Preference(kind, chosen[kind.value], True))
            continue
        found.append(Preference(kind, defaults[kind.value], False))
    return found


def default_modes(session: Session, username: str) -> dict[str, Mode]:
    """Kind -> the mode ``username`` has without a choice (what "default" means for them:
    shown beside their choice)."""
    user = _user(session, username)
    return {
        kind.value: mode for kind, mode in usual_modes(user.role, _acting_roles(session)).items()
    }


def _acting_roles(session: Session) -> set[str]:
    from data.workorders import load_policy

    return {level.role for level in load_policy(session).levels}


def set_preference(
    session: Session, username: str, kind: EventKind | str, mode: Mode | str, *, now: datetime
) -> None:
    """Choose how ``username`` hears of ``kind``; ``default`` forgets the choice."""
    user = _user(session, username)
    kind = parse_kinds([str(kind)])[0]
    existing = session.scalar(
        select(NotificationPref).where(
            NotificationPref.user_id == user.id, NotificationPref.kind == kind.value
        )
    )
    if str(mode) == "default":
        if existing is not None:
            session.delete(existing)
        return
    try:
        mode = Mode(str(mode))
    except ValueError:
        raise NotifyError(f"unknown mode {mode!r}: use now, digest, off or default") from None
    if existing is None:
        session.add(NotificationPref(user_id=user.id, kind=kind.value, mode=mode.value))
    else:
        existing.mode = mode.value


def _own_or_admin(username: str, actor: str, role: str, what: str) -> None:
    """Users change their own address and choices; admins anyone's."""
    if actor != username and role != Role.ADMIN.value:
        raise PermissionDenied(
            f"{what} of {username}: users change their own only (admins anyone's)"
        )


def change_email(
    session: Session, username: str, email: str | None, *, actor: str, role: str, now: datetime
) -> str | None:
    """``set_email`` as ``actor`` (with ``role``) asks it: their own, or anyone's for an
    admin. An empty address removes it (then nothing reaches them by e-mail)."""
    _own_or_admin(username, actor, role, "changing the e-mail address")
    return set_email(session, username, email or None, actor=actor, now=now)


def change_preference(
    session: Session,
    username: str,
    kind: EventKind | str,
    mode: Mode | str,
    *,
    actor: str,
    role: str,
    now: datetime,
) -> Preference:
    """``set_preference`` as ``actor`` asks it (own choices, or anyone's for an admin),
    audited; returns the choice now in force (the default again after ``default``)."""
    _own_or_admin(username, actor, role, "changing the notification choices")
    wanted = parse_kinds([str(kind)])[0]
    if wanted not in CHOOSABLE:
        raise NotifyError(
            f"{wanted.value} is what carries the events chosen 'digest', not a choice itself"
        )
    set_preference(session, username, wanted, mode, now=now)
    session.flush()
    chosen = next(p for p in preferences(session, username) if p.kind is wanted)
    audit.record(
        session,
        actor=actor,
        action="notify.preference",
        now=now,
        target=username,
        detail=f"{chosen.kind.value}: {chosen.mode.value}"
        + ("" if chosen.chosen else " (default)"),
    )
    return chosen


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


# ------------------------------------------------------------------------------ channels


@dataclass(frozen=True)
class ChannelInfo:
    """A channel as lists show it: never its URL."""

    name: str
    scheme: str
    events: tuple[str, ...]
    created_by: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scheme": self.scheme,
            "events": list(self.events),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def _require_admin(role: str, what: str) -> None:
    if role != Role.ADMIN.value:
        raise NotifyError(f"{what}: admins only")


def channel_scheme(url: str) -> str:
    scheme = urlsplit(url.strip()).scheme.lower()
    if not scheme or not scheme.replace("+", "").isalnum() or len(scheme) > 32:
        raise NotifyError(
            "a channel is an Apprise URL such as json://host/path, slack://…, "
            "workflows://… or mailto://…"
        )
    return scheme


def add_channel(
    session: Session,
    vault: Vault,
    *,
    name: str,
    url: str,
    events: str | list[str],
    actor: str,
    role: str,
    now: datetime,
) -> ChannelInfo:
    _require_admin(role, "adding a notification channel")
    name = check_channel_name(name)
    scheme = channel_scheme(url)
    if session.scalar(select(NotifyChannel.id).where(NotifyChannel.name == name)):
        raise NotifyError(f"a channel named {name} exists: remove it first")
    kinds = [k.value for k in parse_kinds(events)]
    row = NotifyChannel(
        name=name,
        scheme=scheme,
        sealed_url=vault.seal(url.strip().encode(), channel_context(name)),
        events=json.dumps(kinds),
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    audit.record(
        session,
        actor=actor,
        action="notify.channel.add",
        now=now,
        target=name,
        detail=f"{scheme}: {', '.join(kinds)}",
    )
    session.flush()
    return _channel_info(row)


def remove_channel(session: Session, name: str, *, actor: str, role: str, now: datetime) -> None:
    _require_admin(role, "removing a notification channel")
    row = session.scalar(select(NotifyChannel).where(NotifyChannel.name == name))
    if row is None:
        raise NotFound(f"no notification channel named {name!r}")
    session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.recipient == CHANNEL + name,
            NotificationDelivery.state.in_(["pending", "sending"]),
        )
        .values(state="failed", last_error="the channel was removed")
    )
    session.delete(row)
    audit.record(session, actor=actor, action="notify.channel.remove", now=now, target=name)


def list_channels(session: Session) -> list[ChannelInfo]:
    return [
        _channel_info(r)
        for r in session.scalars(select(NotifyChannel).order_by(NotifyChannel.name))
    ]


def open_channel_url(session: Session, vault: Vault, name: str) -> str:
    """The channel's URL in the clear, for the notifier only; never log or show it."""
    row = session.scalar(select(NotifyChannel).where(NotifyChannel.name == name))
    if row is None:
        raise NotFound(f"no notification channel named {name!r}")
    return open_sealed(
        session,
        vault,
        row.sealed_url,
        channel_context(name),
        target=f"channel {name}",
        actor="notifier",
    ).decode()


@dataclass(frozen=True)
class ChannelTry:
    """What a test message to a channel came to (the reason never holds the URL)."""

    name: str
    ok: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.name, "ok": self.ok, "message": self.message}


CHANNEL_TEST_TASK = "notify.channel.test"


def try_channel(
    session: Session,
    vault: Vault,
    name: str,
    *,
    actor: str,
    role: str,
    now: datetime,
    send: Callable[[str, str, str], None],
) -> ChannelTry:
    """Send a test message to channel ``name`` now (admins only) through ``send(url,
    title, body)`` (jobs/notify/channels.send_channel in the CLI and the scheduler), and
    audit the outcome. A failure is the answer, not an error: its reason is shown as is,
    with the URL blanked out should a sender ever echo it."""
    _require_admin(role, "testing a notification channel")
    url = open_channel_url(session, vault, name)
    title = "certpush: test message"
    body = (
        f"A test of the notification channel {name}, sent by {actor} at {now:%Y-%m-%d %H:%M} UTC."
    )
    try:
        send(url, title, body)
        result = ChannelTry(name, True, f"channel {name} accepted the test message")
    except CertpushError as exc:
        result = ChannelTry(name, False, f"channel {name}: {_without(str(exc), url)}")
    except Exception as exc:  # a sender's bug is still an answer, never a traceback
        result = ChannelTry(name, False, f"channel {name}: {type(exc).__name__}")
    audit.record(
        session,
        actor=actor,
        action="notify.channel.test",
        now=now,
        target=name,
        detail="delivered" if result.ok else f"failed: {result.message}"[:500],
    )
    return result


def _without(text: str, url: str) -> str:
    return text.replace(url, "<the channel's URL>") if url else text


def queue_channel_test(session: Session, name: str, *, actor: str, role: str, now: datetime) -> int:
    """The web process's Test button: the scheduler sends (the web process never opens a
    channel's URL); returns the task id to poll (data/tasks.py)."""
    _require_admin(role, "testing a notification channel")
    if session.scalar(select(NotifyChannel.id).where(NotifyChannel.name == name)) is None:
        raise NotFound(f"no notification channel named {name!r}")
    return queue_task(session, CHANNEL_TEST_TASK, {"name": name, "actor": actor}, actor=actor,
                      now=now)  # fmt: skip


def role_of(session: Session, username: str) -> str | None:
    """An active user's role now (a task carried out later checks it again)."""
    return session.scalar(select(User.role).where(User.username == username, User.active.is_(True)))


def _channel_info(row: NotifyChannel) -> ChannelInfo:
    return ChannelInfo(
        row.name, row.scheme, tuple(json.loads(row.events or "[]")), row.created_by, row.created_at
    )


# -------------------------------------------------------------------------------- outbox


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: int
    kind: str
    recipient: str
    mode: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    sent_at: datetime | None
    event_at: datetime
    work_order_id: int | None
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event": self.kind,
            "recipient": self.recipient,
            "mode": self.mode,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "last_error": self.last_error,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "event_at": self.event_at.isoformat(),
            "work_order": work_order_id(self.work_order_id) if self.work_order_id else None,
        }


def _delivery(d: NotificationDelivery, e: NotificationEvent) -> Delivery:
    return Delivery(
        d.id,
        e.id,
        e.kind,
        d.recipient,
        d.mode,
        d.state,
        d.attempts,
        d.next_attempt_at,
        d.last_error,
        d.sent_at,
        e.at,
        e.work_order_id,
        json.loads(e.payload or "{}"),
    )


def outbox(
    session: Session,
    states: Iterable[str] = ("pending", "sending", "failed", "digest"),
    limit: int = 500,
) -> list[Delivery]:
    rows = session.execute(
        select(NotificationDelivery, NotificationEvent)
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
        .where(NotificationDelivery.state.in_(list(states)))
        .order_by(NotificationDelivery.id)
        .limit(limit)
    ).all()
    return [_delivery(d, e) for d, e in rows]


def claim(session: Session, *, now: datetime, lease: timedelta, limit: int = 50) -> list[Delivery]:
    """Take up to ``limit`` due deliveries for sending (compare-and-set on the state, so two
    notifiers never take the same one); a crashed notifier's claims come back once their
    lease has passed."""
    due = session.execute(
        select(NotificationDelivery.id, NotificationDelivery.state)
        .where(
            or_(
                and_(
                    NotificationDelivery.state == "pending",
                    NotificationDelivery.next_attempt_at <= now,
                ),
                and_(
                    NotificationDelivery.state == "sending", NotificationDelivery.lease_until <= now
                ),
            )
        )
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
        .limit(limit)
    ).all()
    taken = []
    for delivery_id, state in due:
        changed = session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == delivery_id, NotificationDelivery.state == state)
            .values(state="sending", lease_until=now + lease)
        ).rowcount
        if changed:
            taken.append(delivery_id)
    if not taken:
        return []
    rows = session.execute(
        select(NotificationDelivery, NotificationEvent)
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
        .where(NotificationDelivery.id.in_(taken))
        .order_by(NotificationDelivery.id)
    ).all()
    return [_delivery(d, e) for d, e in rows]


def mark_sent(session: Session, delivery_id: int, *, now: datetime) -> None:
    session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id)
        .values(state="sent", sent_at=now, lease_until=None, last_error="")
    )


def mark_failed(
    session: Session,
    delivery_id: int,
    error: str,
    *,
    now: datetime,
    permanent: bool = False,
    backoff_base: float = 5.0,
    backoff_cap: float = 300.0,
) -> str:
    """Record a failed try: due again after the backoff, or "failed" for good after
    MAX_ATTEMPTS (or at once when ``permanent``: no address, channel gone). Returns the
    new state. ``backoff_base``/``backoff_cap``: seconds (CERTPUSH_NOTIFY_BACKOFF_*)."""
    row = session.get(NotificationDelivery, delivery_id)
    if row is None:
        return "gone"
    row.attempts += 1
    row.last_error = error[:1000]
    row.lease_until = None
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.state = "failed"
    else:
        row.state = "pending"
        row.next_attempt_at = now + backoff(row.attempts, backoff_base, backoff_cap)
    return row.state


def user_address(session: Session, username: str) -> str | None:
    return session.scalar(
        select(User.email).where(User.username == username, User.active.is_(True))
    )


# ------------------------------------------------------------------------------- memory


def remembered(session: Session, key: str) -> str | None:
    return session.scalar(select(NotifyState.value).where(NotifyState.key == key[:160]))


def remember(session: Session, key: str, value: str, *, now: datetime) -> bool:
    """Store ``value`` for ``key``; True when it changed (the caller then tells)."""
    row = session.get(NotifyState, key[:160])
    if row is None:
        session.add(NotifyState(key=key[:160], value=value[:64], updated_at=now))
        return True
    if row.value == value[:64]:
        return False
    row.value, row.updated_at = value[:64], now
    return True
