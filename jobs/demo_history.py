"""Ninety days of demo history, made by the real workflow under a simulated clock.

`certpush demo` gives a fresh instance a past, so that the Reports page, the work
orders, the audit trail and the colours of the demo certificates have something to
show on first start. The demo operator requests pushes, the demo reviewer approves
or rejects them, the demo implementer implements them now or schedules them (and
sometimes cancels), the scheduler claims and finishes the pushes, and verification
sweeps decide them. A request through several devices is a rollout: the scheduler
takes its waves in turn, and when one fails the implementer resumes it after a look
(or aborts it when it missed its night). Every row is written by the function the real
flow uses, given the simulated time: ``request_push``, ``act``, ``claim_due``,
``finish_push`` and ``reconcile_interrupted`` (data/workorders.py), ``resume`` and
``abort`` (data/rollouts.py), ``record_push`` (jobs/push.py), and
``targets``, ``open_sweep`` and ``record_sweep`` (jobs/verify.py). Only what a device
would have done is chosen here: whether an install worked (or failed, with the
failure classes and messages the connectors produce) and what each endpoint served.

The devices:

- twelve history-only devices (jobs/demo_devices.py ``HISTORY_DEVICES``; ``ssh`` and
  ``local`` connectors bound to other demo certificates). Their endpoints are on the
  demo ports of 127.0.0.1, told apart by SNI name, and at the end their files hold
  the certificate their last successful push installed: the demo devices serve them,
  so the live scheduler's sweeps find what the history says (and probe nothing
  beyond 127.0.0.1). A ``local`` one takes a live push like the live devices; the
  SSH side of an ``ssh`` one does not exist (127.0.0.1:22, pinned to a host key no
  server has), so a live push to it fails before any credential is sent.
- two of the five live devices: ``demo-web-eu-nginx`` (web-frontend-eu, verified
  pushes until someone put the device's old self-signed certificate back by hand:
  the history's one drift, Mid Purple) and ``demo-mail-relay`` (mail-relay, whose
  pushes failed their config test and were rolled back: Gray). Both end serving
  their placeholder, as the history says. The other three live devices have no
  history: they wait for the first push from the UI.

Deterministic (one seeded generator; every time relative to ``now``), made once
(only on an instance that has none of it yet), and marked as demo data: its push
requests carry ``demo`` (their work orders, events, attempts and results hang off
them) and its sweeps the trigger ``"demo"``. Every work order of the history is
final hours before ``now`` and every push decided, so nothing in it is left for the
live scheduler to do; its last sweep runs about half an hour before ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from data.config import Settings
from data.connectors import add_connector, bind
from data.crypto import Vault
from data.demo import DEMO_USERS, HISTORY_DAYS, recorded_at
from data.domain.push_validation import PushValidation, validation_of
from data.domain.roles import Role
from data.domain.verification import ProbeOutcome
from data.domain.workflow import Action, Actor
from data.models import (
    AuditEvent,
    Certificate,
    Connector,
    Endpoint,
    PushAttempt,
    PushRequest,
    Rollout,
    User,
    VerificationResult,
    VerificationSweep,
    WorkOrder,
)
from data.rollouts import abort, resume, rollout_view
from data.workorders import act, claim_due, finish_push, reconcile_interrupted, request_push
from jobs.connectors.base import FailureClass, InstallOutcome, InstallResult
from jobs.demo_devices import (
    DemoDevice,
    demo_book,
    history_devices,
    live_devices,
    local_settings,
    write_device_files,
    write_placeholder,
)
from jobs.probe import ProbeResult
from jobs.push import material_for, record_push
from jobs.verify import SETTLE_SECONDS, Target, open_sweep, record_sweep, targets
from jobs.workorders import LEASE

SEED = 20260601
TRIGGER = "demo"
OWNER = "demo-history:scheduler"  # the simulated scheduler process's lease name
KILLED_OWNER = "demo-history:scheduler-killed"  # the one that stopped during a push
GRACE = timedelta(minutes=60)  # CERTPUSH_MISSED_GRACE_MINUTES's default
PARALLELISM = 4
SSH_WHERE = "127.0.0.1:22"
# Days between two requests for one certificate: about 190 requests in all. Each costs
# some 50 statements through the real functions, the bulk of `certpush demo`'s time.
REQUEST_SPACING_DAYS = (3.6, 6.6)
QUIET_DAYS = 7  # no failed verification this close to now (the newest week reads calm)
MAX_FAILED_CHECKS_A_DAY = 2
CHECK_FAILURES = (
    ProbeOutcome.TIMEOUT,
    ProbeOutcome.REFUSED,
    ProbeOutcome.TLS_ERROR,
    ProbeOutcome.TIMEOUT,
    ProbeOutcome.RESET,
)
DRIFT_DEVICE = "demo-web-eu-nginx"
FAILED_DEVICE = "demo-mail-relay"
HOST_KEY_DEVICE = "iot-gw-3"  # its newest push meets a rebuilt device: Gray

OPERATOR = Actor(DEMO_USERS[Role.OPERATOR], Role.OPERATOR.value)
REVIEWER = Actor(DEMO_USERS[Role.REVIEWER], Role.REVIEWER.value)
IMPLEMENTER = Actor(DEMO_USERS[Role.IMPLEMENTER], Role.IMPLEMENTER.value)

REQUEST_COMMENTS = (
    "Renewed certificate: roll it out to the device ({chg})",
    "Re-push after the device rebuild ({chg})",
    "Quarterly certificate refresh ({chg})",
    "Align the device with the inventory ({chg})",
    "Key rotation follow-up ({chg})",
    "Push ahead of the expiry review ({chg})",
)
APPROVE_COMMENTS = (
    "SANs and chain checked",
    "Matches {chg}",
    "Low risk, checked against the change calendar",
    "OK",
)
PROPOSE_COMMENT = "OK for tonight's maintenance window"
IMPLEMENT_NOW_COMMENTS = ("Push now", "Pushing now, watching the endpoint", "Go")
IMPLEMENT_LATER_COMMENTS = ("In the maintenance window", "Tonight, after the traffic peak")
REJECT_REASONS = (
    "No change ticket referenced: request again with the CHG number",
    "Change freeze until the quarter closes",
    "Duplicate of an earlier request for this device",
    "The device owner has not confirmed the window",
)
LATE_REJECT_REASONS = ("The device owner asked to wait for their release",)
CANCEL_COMMENTS = (
    "Maintenance window moved by the network team",
    "The device owner asked to postpone",
)


@dataclass
class HistorySummary:
    """What the history added, counted in the database as the report counts it."""

    skipped: str = ""  # why nothing was added, when nothing was
    days: int = 0
    connectors_added: int = 0
    push_requests: int = 0
    work_orders: dict[str, int] = field(default_factory=dict)  # by status
    pushes: dict[str, int] = field(default_factory=dict)  # by push validation state
    push_attempts: dict[str, int] = field(default_factory=dict)  # by outcome
    sweeps: int = 0
    verification_results: dict[str, int] = field(default_factory=dict)  # by outcome
    drift: int = 0
    audit_events: int = 0

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        """One line for the terminal."""
        if self.skipped:
            return f"demo history: none added ({self.skipped})"
        pushes = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in self.pushes.items())
        return (
            f"demo history: {self.days} days, {self.push_requests} push requests, "
            f"{sum(self.work_orders.values())} work orders, {sum(self.pushes.values())} "
            f"pushes ({pushes}), {self.sweeps} sweeps, {self.drift} drift; marked as demo data"
        )


# ----------------------------------------------------------------------------- the plan


@dataclass
class _Push:
    """What the device does when one work order's push runs."""

    connector: str
    seconds: float = 1.0
    failure: FailureClass | None = None
    check: tuple[int, ProbeOutcome] | None = None  # endpoint failing the deciding sweep
    already: bool = False  # the device had it already (re-push after a failed check)
    special: str = ""  # "interrupted" or "missed": the night the scheduler stopped


@dataclass
class _Request:
    at: datetime
    common_name: str
    connectors: tuple[str, ...]
    comment: str
    review_at: datetime
    review_comment: str
    reject: str = ""  # rejected by the reviewer, with this reason
    implement_at: datetime | None = None
    implement_comment: str = ""
    late_reject: str = ""  # rejected by the implementer, with this reason
    run_at: datetime | None = None  # scheduled (Manual Implementation off)
    proposed: bool = False  # the reviewer proposed ``run_at``
    cancel_at: datetime | None = None
    cancel_comment: str = ""
    pushes: dict[str, _Push] = field(default_factory=dict)

    @property
    def pushed(self) -> bool:
        return not (self.reject or self.late_reject or self.cancel_at)

    @property
    def push_at(self) -> datetime | None:
        if not self.pushed:
            return None
        return self.run_at or self.implement_at

    @property
    def ends(self) -> datetime:
        return max(t for t in (self.review_at, self.implement_at, self.run_at, self.cancel_at) if t)


def _chg(rng: random.Random) -> str:
    return f"CHG-{rng.randint(1000, 9999)}"


def _working(day: date, hours: float) -> datetime:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(), UTC) + timedelta(hours=hours)


def _later(rng: random.Random, after: datetime, low_h: float, high_h: float) -> datetime:
    """A person's next step: some hours later, or the next working morning."""
    at = after + timedelta(hours=rng.uniform(low_h, high_h))
    if at.hour >= 19 or at.date() != after.date() or at.weekday() >= 5:
        at = _working(after.date() + timedelta(days=1), rng.uniform(8.0, 9.5))
    return at


def _request(
    rng: random.Random, at: datetime, common_name: str, connectors: tuple[str, ...]
) -> _Request:
    """One request's path through the workflow, chosen by chance."""
    req = _Request(
        at=at,
        common_name=common_name,
        connectors=connectors,
        comment=rng.choice(REQUEST_COMMENTS).format(chg=_chg(rng)),
        review_at=_later(rng, at, 0.2, 4.0),
        review_comment=rng.choice(APPROVE_COMMENTS).format(chg=_chg(rng)),
    )
    fate = rng.random()
    if fate < 0.07:
        req.reject = rng.choice(REJECT_REASONS)
        return req
    req.implement_at = _later(rng, req.review_at, 0.1, 3.0)
    if fate < 0.09:
        req.late_reject = rng.choice(LATE_REJECT_REASONS)
        return req
    if fate < 0.33:  # Manual Implementation off: the maintenance window tonight
        window = datetime.combine(req.implement_at.date(), time(rng.choice((21, 22))), UTC)
        if window - req.implement_at < timedelta(minutes=30):
            window += timedelta(days=1)
        req.run_at = window
        req.proposed = rng.random() < 0.5
        if req.proposed:
            req.review_comment = PROPOSE_COMMENT
        req.implement_comment = rng.choice(IMPLEMENT_LATER_COMMENTS)
        if rng.random() < 0.12:
            req.cancel_at = req.implement_at + timedelta(hours=rng.uniform(0.3, 2.0))
            req.cancel_comment = rng.choice(CANCEL_COMMENTS)
    else:
        req.implement_comment = rng.choice(IMPLEMENT_NOW_COMMENTS)
    return req


def _failure(rng: random.Random, kind: str) -> FailureClass:
    if kind == "ssh":
        weights = {
            FailureClass.AUTH: 3,
            FailureClass.UNREACHABLE: 2,
            FailureClass.TIMEOUT: 2,
            FailureClass.HOST_KEY: 1,
            FailureClass.PERMISSION: 1,
            FailureClass.CONFIG_TEST_FAILED: 1,
            FailureClass.RELOAD_FAILED: 1,
        }
    else:
        weights = {
            FailureClass.CONFIG_TEST_FAILED: 2,
            FailureClass.RELOAD_FAILED: 1,
            FailureClass.PERMISSION: 1,
            FailureClass.IO_ERROR: 1,
        }
    return rng.choices(list(weights), list(weights.values()))[0]


FAILURE_SECONDS = {
    FailureClass.AUTH: (0.4, 1.0),
    FailureClass.HOST_KEY: (0.2, 0.5),
    FailureClass.UNREACHABLE: (0.01, 0.05),
    FailureClass.TIMEOUT: (10.0, 10.2),
    FailureClass.PERMISSION: (0.5, 1.5),
    FailureClass.CONFIG_TEST_FAILED: (0.8, 2.0),
    FailureClass.RELOAD_FAILED: (1.0, 3.0),
    FailureClass.IO_ERROR: (0.2, 0.6),
}


def _plan(rng: random.Random, now: datetime, devices: dict[str, DemoDevice]) -> list[_Request]:
    """Every request of the history, in time order, with what each push will meet."""
    start = recorded_at(now) + timedelta(days=2)
    last_day = (now - timedelta(days=1)).date()
    groups: dict[str, list[str]] = {}
    for device in devices.values():
        if not device.live:
            groups.setdefault(device.common_name, []).append(device.name)
    web_eu = devices[DRIFT_DEVICE]
    # The night the scheduler stopped: a push it was running, and one due while it was down.
    night = _working((now - timedelta(days=37)).date(), 0).date()
    special = {
        "backup-agent-01.corp.example": "interrupted",
        "mq-client-orders.corp.example": "missed",
    }
    requests: list[_Request] = []
    for cn, names in [*groups.items(), (web_eu.common_name, [web_eu.name])]:
        spacing = (6.0, 10.0) if cn == web_eu.common_name else REQUEST_SPACING_DAYS
        day = start + timedelta(days=rng.uniform(0, spacing[0]))
        while day.date() <= last_day:
            at = _working(day.date(), rng.uniform(8.0, 16.5))
            if cn in special and abs((at.date() - night).days) <= 2:
                day += timedelta(days=rng.uniform(*spacing))
                continue
            requests.append(_request(rng, at, cn, tuple(names)))
            day += timedelta(days=rng.uniform(*spacing))
        if cn in special:
            at = _working(night, rng.uniform(13.0, 14.0))
            req = _request(rng, at, cn, tuple(names))
            req.reject = req.late_reject = req.cancel_comment = ""
            req.cancel_at, req.proposed = None, False
            req.review_at = at + timedelta(hours=rng.uniform(0.3, 1.5))
            req.review_comment = rng.choice(APPROVE_COMMENTS).format(chg=_chg(rng))
            req.implement_at = req.review_at + timedelta(hours=rng.uniform(0.2, 1.0))
            req.implement_comment = "After midnight, when the batch jobs are done"
            after = datetime.combine(night + timedelta(days=1), time(), UTC)
            req.run_at = after + timedelta(hours=1.5 if special[cn] == "interrupted" else 2.0)
            requests.append(req)
    mail = devices[FAILED_DEVICE]
    for days_ago, fate in ((19, "failed"), (12, "rejected"), (4, "failed")):
        at = _working((now - timedelta(days=days_ago)).date(), rng.uniform(9.0, 15.0))
        req = _request(rng, at, mail.common_name, (mail.name,))
        req.reject = (
            "Hold until the nginx config error on the device is fixed" if fate == "rejected" else ""
        )
        req.late_reject, req.cancel_at = "", None
        if not req.reject:
            req.implement_at = req.implement_at or _later(rng, req.review_at, 0.1, 2.0)
        requests.append(req)
    requests = [r for r in requests if r.ends < now - timedelta(hours=6)]
    requests.sort(key=lambda r: r.at)
    _plan_pushes(rng, now, requests, devices, special, night)
    return requests


def _plan_pushes(
    rng: random.Random,
    now: datetime,
    requests: list[_Request],
    devices: dict[str, DemoDevice],
    special: dict[str, str],
    night: date,
) -> None:
    """What every push meets on its device. The newest push of every device installs
    and verifies (the certificate's colour is its expiry's), except on the devices
    whose history explains a Gray certificate."""
    last: dict[str, _Request] = {}
    for req in requests:
        if req.pushed:
            for name in req.connectors:
                last[name] = req
    ever_matched: set[str] = set()
    failed_check: set[str] = set()
    checks_a_day: Counter[date] = Counter()
    quiet = now - timedelta(days=QUIET_DAYS)
    failures = itertools.cycle(CHECK_FAILURES)
    for req in requests:
        if not req.pushed:
            continue
        at = req.push_at
        assert at is not None
        for name in req.connectors:
            device = devices[name]
            ssh = device.type == "ssh"
            push = _Push(name, seconds=rng.uniform(1.5, 5.0) if ssh else rng.uniform(0.3, 1.2))
            req.pushes[name] = push
            if req.common_name in special and at.date() == night + timedelta(days=1):
                push.special = special[req.common_name]
                continue
            if name == FAILED_DEVICE:
                push.failure = FailureClass.CONFIG_TEST_FAILED
            elif name == HOST_KEY_DEVICE and last[name] is req:
                push.failure = FailureClass.HOST_KEY
            elif last[name] is not req and rng.random() < 0.07:
                push.failure = _failure(rng, device.type)
            if push.failure is not None:
                push.seconds = rng.uniform(*FAILURE_SECONDS[push.failure])
                continue
            push.already = name in failed_check
            failed_check.discard(name)
            may_fail = (
                last[name] is not req
                and at < quiet
                and checks_a_day[at.date()] < MAX_FAILED_CHECKS_A_DAY
            )
            new_device = name not in ever_matched
            if may_fail and rng.random() < (0.3 if new_device else 0.09):
                # A new device's SNI name is often not routed yet (another certificate
                # answers: no drift, that endpoint never served ours); later, endpoints
                # fail in the ways a sweep sees.
                outcome = ProbeOutcome.MISMATCH if new_device else next(failures)
                push.check = (rng.randrange(len(device.names)), outcome)
                checks_a_day[at.date()] += 1
                failed_check.add(name)
            ever_matched.add(name)


# ------------------------------------------------------------------------ what devices say


def _ssh_host_key(name: str) -> str:
    digest = hashlib.sha256(f"demo host key of {name}".encode()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _install_result(push: _Push, device: DemoDevice, cert_path: str) -> InstallResult:
    """What the connector would have returned, in its own words."""
    if push.failure is None:
        if push.already:
            return InstallResult(
                InstallOutcome.ALREADY_INSTALLED,
                "the device already has this certificate and key: nothing changed",
            )
        return InstallResult(InstallOutcome.INSTALLED, "installed")
    nginx_error = (
        'nginx: [emerg] unknown directive "ssl_stapling_responder_timeout" in '
        f"/etc/nginx/conf.d/{device.common_name}.conf:14"
    )
    reasons = {
        FailureClass.AUTH: f"authentication as 'deploy' on {SSH_WHERE} failed: the server "
        "refused the password",
        FailureClass.HOST_KEY: f"host key changed: expected {_ssh_host_key(device.name)}, "
        f"{SSH_WHERE} presents {_ssh_host_key(device.name + ' rebuilt')}. Refusing to connect: "
        "the device may have been rebuilt, or someone is intercepting the connection",
        FailureClass.UNREACHABLE: f"{SSH_WHERE} refused the connection",
        FailureClass.TIMEOUT: f"no answer from {SSH_WHERE} within 10 s",
        FailureClass.PERMISSION: f"permission denied: cannot write {cert_path}.certpush-new",
        FailureClass.CONFIG_TEST_FAILED: "config test failed (exit 1); previous files "
        f"restored: {nginx_error}",
        FailureClass.RELOAD_FAILED: "reload failed (exit 1); previous files restored and the "
        'device reloaded with them: nginx: [error] invalid PID number "" in nginx.pid',
        FailureClass.IO_ERROR: f"cannot write {cert_path}.certpush-new: No space left on device",
    }
    return InstallResult(InstallOutcome.FAILED, reasons[push.failure], push.failure)


FAILED_CHECKS = {
    ProbeOutcome.TIMEOUT: ("TCP connected but no TLS handshake within 5 s", 5000),
    ProbeOutcome.REFUSED: ("connection refused (nothing listens there)", 0),
    ProbeOutcome.RESET: ("the server closed the connection during the handshake", 2),
    ProbeOutcome.TLS_ERROR: ("TLS handshake failed: TLSV1_ALERT_INTERNAL_ERROR", 4),
}


# ----------------------------------------------------------------------------- the run


class _History:
    """The simulated clock: events in time order, each calling the real functions."""

    def __init__(self, session: Session, now: datetime, rng: random.Random):
        self.session, self.rng = session, rng
        self.events: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self.order = itertools.count()
        self.sweep_times: set[datetime] = set()
        self.pushes: dict[int, _Push] = {}  # work order id -> plan
        self.undecided: dict[int, datetime] = {}  # pushed work order id -> push end
        self.request_ids: list[int] = []
        self.final_sweep = _quarter(now - timedelta(minutes=29))
        self.connectors: dict[str, tuple[int, str]] = {}  # name -> id, certificate file
        self.certificates: dict[str, tuple[int, str]] = {}  # common name -> id, fingerprint
        self.certificate_of: dict[int, tuple[int, str]] = {}  # work order -> certificate
        self.devices: dict[str, DemoDevice] = {}
        self.endpoint_index: dict[int, tuple[str, int]] = {}
        self.served: dict[int, tuple[str, datetime]] = {}  # certificate id -> subject, expiry
        self.drift_served: tuple[str, str, datetime] | None = None
        self.down: tuple[datetime, datetime] | None = None  # the scheduler was stopped
        self.deciding: set[int] = set()  # halted rollouts the implementer will look at

    def at(self, when: datetime, action: Callable[[datetime], None]) -> None:
        heapq.heappush(self.events, (when, next(self.order), action))

    def run(self) -> None:
        while self.events:
            when, _, action = heapq.heappop(self.events)
            action(when)
            # Thousands of rows go through this session: written rows leave its identity
            # map, or every ORM UPDATE of the real functions scans all of them.
            self.session.flush()
            self.session.expunge_all()

    # --- people

    def request(self, when: datetime, req: _Request) -> None:
        certificate = self.certificates[req.common_name]
        _, views = request_push(
            self.session,
            certificate[1],
            actor=OPERATOR,
            now=when,
            comment=req.comment,
            connectors=req.connectors,
        )
        self.request_ids.append(views[0].request_number)
        for index, view in enumerate(views):
            self.certificate_of[view.id] = certificate
            gap = timedelta(seconds=25 * index)  # one person works through a rollout
            self.plan_work_order(view.id, req, req.pushes.get(view.connector), gap, index == 0)

    def plan_work_order(
        self, wo: int, req: _Request, push: _Push | None, gap: timedelta, first: bool
    ) -> None:
        """Schedule what people and the scheduler do to one work order of a request.

        A rejection ends the whole request (data/workorders.py), so only the request's
        first work order is rejected by a person; the others follow with it.
        """
        if req.reject:
            if first:
                self.at(req.review_at + gap, partial(self.act, wo, Action.REJECT, REVIEWER,
                                                      comment=req.reject))  # fmt: skip
            return
        self.at(req.review_at + gap, partial(self.act, wo, Action.APPROVE, REVIEWER,
                                              manual=not req.proposed,
                                              at=req.run_at if req.proposed else None,
                                              comment=req.review_comment))  # fmt: skip
        assert req.implement_at is not None
        if req.late_reject:
            if first:
                late = partial(self.act, wo, Action.REJECT, IMPLEMENTER, comment=req.late_reject)
                self.at(req.implement_at + gap, late)
            return
        self.at(req.implement_at + gap, partial(self.act, wo, Action.IMPLEMENT, IMPLEMENTER,
                                                 manual=req.run_at is None, at=req.run_at,
                                                 comment=req.implement_comment))  # fmt: skip
        if req.cancel_at is not None:
            self.at(req.cancel_at + gap, partial(self.act, wo, Action.CANCEL, IMPLEMENTER,
                                                  comment=req.cancel_comment))  # fmt: skip
            return
        assert push is not None
        self.pushes[wo] = push
        poll = timedelta(seconds=self.rng.uniform(0.05, 0.5))  # the scheduler polls twice a second
        if req.run_at is None:
            self.at(req.implement_at + gap + poll, self.dispatch)
        elif push.special == "interrupted":
            self.at(req.run_at + poll, partial(self.dispatch, owner=KILLED_OWNER))
            restart = datetime.combine(req.run_at.date(), time(4, 10), UTC)
            self.down = (req.run_at + timedelta(minutes=2), restart)
            self.at(restart, self.restart)
        elif push.special != "missed":  # the scheduler was down at its time
            self.at(req.run_at + poll, self.dispatch)

    def act(self, wo: int, action: Action, actor: Actor, when: datetime, **kwargs) -> None:
        result = act(self.session, wo, action, actor=actor, now=when, **kwargs)
        if not result.ok:
            raise RuntimeError(f"the demo history went off the rails: {result.message}")

    # --- the scheduler

    def dispatch(self, when: datetime, owner: str = OWNER) -> None:
        if owner == OWNER and self.down and self.down[0] <= when < self.down[1]:
            return  # no scheduler, no claims
        claimed = claim_due(
            self.session, owner=owner, now=when, grace=GRACE, lease=LEASE, limit=PARALLELISM
        )
        if owner == KILLED_OWNER:
            return  # the process dies during these pushes: no attempt is ever recorded
        for wo in claimed:
            started = when + timedelta(seconds=self.rng.uniform(0.02, 0.15))
            ended = started + timedelta(seconds=self.pushes[wo].seconds)
            self.at(ended, partial(self.push_ended, wo, started))
        self.look_at_halted(when)

    def look_at_halted(self, when: datetime) -> None:
        """A rollout that just halted: the implementer looks at it some minutes later."""
        for request in self.session.scalars(
            select(Rollout.request_id).where(Rollout.state == "halted")
        ):
            if request not in self.deciding:
                self.deciding.add(request)
                later = when + timedelta(minutes=self.rng.uniform(8, 40))
                self.at(later, partial(self.decide_rollout, request))

    def decide_rollout(self, request: int, when: datetime) -> None:
        """Resume after a look at the failed device; abort what missed its night (it is
        requested again)."""
        self.deciding.discard(request)
        view = rollout_view(self.session, request)
        if "missed schedule" in view.reason:
            decide, comment = abort, "Missed its night: requested again for the next window"
        else:
            decide, comment = resume, "Looked at the failed device: the others may go on"
        result = decide(self.session, request, actor=IMPLEMENTER, comment=comment, now=when)
        if not result.ok:
            raise RuntimeError(f"the demo history went off the rails: {result.message}")
        self.at(when + timedelta(seconds=self.rng.uniform(0.05, 0.5)), self.dispatch)

    def restart(self, when: datetime) -> None:
        """The scheduler comes back: what it was running is taken up again (and pushed now),
        what was due meanwhile failed as a missed schedule (later than the grace)."""
        reconcile_interrupted(self.session, owner=OWNER, now=when)
        self.dispatch(when)

    def push_ended(self, wo: int, started: datetime, when: datetime) -> None:
        push = self.pushes[wo]
        connector_id, cert_path = self.connectors[push.connector]
        certificate_id, fingerprint = self.certificate_of[wo]
        result = _install_result(push, self.devices[push.connector], cert_path)
        record_push(
            self.session,
            certificate_id=certificate_id,
            connector_id=connector_id,
            connector_name=push.connector,
            fingerprint=fingerprint,
            actor="scheduler",
            started=started,
            finished=when,
            result=result,
            work_order_id=wo,
        )
        recorded = when + timedelta(milliseconds=self.rng.randint(5, 40))
        finish_push(self.session, wo, owner=OWNER, ok=result.ok, reason=result.reason,
                    now=recorded)  # fmt: skip
        # The scheduler polls twice a second: the next wave of a rollout goes then.
        self.at(recorded + timedelta(seconds=self.rng.uniform(0.05, 0.5)), self.dispatch)
        self.look_at_halted(recorded)
        if result.ok:
            self.undecided[wo] = when
            self.sweep_at(_quarter(when + timedelta(seconds=SETTLE_SECONDS + 1), up=True))

    # --- verification

    def sweep_at(self, when: datetime) -> None:
        if when < self.final_sweep and when not in self.sweep_times:
            self.sweep_times.add(when)
            self.at(when, self.sweep)

    def sweep(self, when: datetime, final: bool = False) -> None:
        if self.down and self.down[0] <= when < self.down[1]:
            return  # no scheduler, no sweep
        items = targets(self.session)
        if not items:
            return
        sweep_id = open_sweep(self.session, started=when, trigger=TRIGGER, endpoints=len(items))
        results = {t.endpoint_id: self.probe(t, when, final) for t in items}
        slowest = max(r.latency_ms for r in results.values())
        finished = when + timedelta(milliseconds=slowest + self.rng.randint(80, 400))
        record_sweep(self.session, sweep_id, items, results, finished=finished)
        settled = when - timedelta(seconds=SETTLE_SECONDS)
        for wo in [wo for wo, ended in self.undecided.items() if ended <= settled]:
            del self.undecided[wo]

    def probe(self, target: Target, when: datetime, final: bool) -> ProbeResult:
        """What the endpoint answers: ours, unless the plan says otherwise."""
        connector, index = self.endpoint_index[target.endpoint_id]
        latency = self.rng.randint(2, 25)
        wo = target.work_order_id
        ended = self.undecided.get(wo) if wo is not None else None
        push = self.pushes.get(wo) if wo is not None else None
        deciding = ended is not None and ended <= when - timedelta(seconds=SETTLE_SECONDS)
        if deciding and push is not None and push.check and push.check[0] == index:
            outcome = push.check[1]
            if outcome is ProbeOutcome.MISMATCH:
                text = f"{connector} default certificate"
                served = hashlib.sha256(text.encode()).hexdigest()
                subject = f"CN={connector}.default.invalid"
                expires = when + timedelta(days=3650)
                return ProbeResult(outcome, f"serves another certificate ({subject})", served,
                                   subject, expires, latency, False)  # fmt: skip
            reason, ms = FAILED_CHECKS[outcome]
            return ProbeResult(outcome, reason, latency_ms=ms + self.rng.randint(0, 3))
        if final and connector == DRIFT_DEVICE and self.drift_served is not None:
            served, subject, not_after = self.drift_served
            return ProbeResult(ProbeOutcome.MISMATCH, f"serves another certificate ({subject})",
                               served, subject, not_after, latency, False)  # fmt: skip
        subject, not_after = self._served(target.certificate_id)
        return ProbeResult(ProbeOutcome.MATCH, "serves the expected certificate",
                           target.expected, subject, not_after, latency, False)  # fmt: skip

    def _served(self, certificate_id: int) -> tuple[str, datetime]:
        if certificate_id not in self.served:
            cert = self.session.get(Certificate, certificate_id)
            assert cert is not None
            parsed = x509.load_der_x509_certificate(cert.der)
            self.served[certificate_id] = (
                parsed.subject.rfc4514_string()[:1024],
                parsed.not_valid_after_utc,
            )
        return self.served[certificate_id]


def _quarter(at: datetime, up: bool = False) -> datetime:
    """The quarter hour at or before ``at`` (``up``: at or after): when sweeps run."""
    floor = at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)
    return floor + timedelta(minutes=15) if up and floor < at else floor


# ----------------------------------------------------------------------------- entry point


def _history_connectors(
    session: Session, vault: Vault, settings: Settings, devices: list[DemoDevice], made: datetime
) -> None:
    book = demo_book(settings, session)
    for device in devices:
        endpoints = [{"host": "127.0.0.1", "port": device.port, "sni": n} for n in device.names]
        if device.type == "ssh":
            config: dict[str, object] = {
                "host": "127.0.0.1",
                "port": 22,
                "username": "deploy",
                "host_key_fingerprint": _ssh_host_key(device.name),
                "profile": "nginx",
                "cert_path": f"/etc/ssl/certpush/{device.common_name}.crt",
                "key_path": f"/etc/ssl/certpush/{device.common_name}.key",
            }
            secret: dict[str, object] = {
                "secret": f"demo password of {device.name}, no server knows it".encode(),
                "secret_kind": "password",
            }
        else:
            config, secret = local_settings(settings, device), {}
        add_connector(session, vault, name=device.name, type_name=device.type, settings=config,
                      endpoints=endpoints, actor="demo", now=made, role="admin",
                      book=book, **secret)  # fmt: skip
        fingerprint = session.scalar(
            select(Certificate.fingerprint_sha256).where(
                Certificate.common_name == device.common_name, Certificate.source.like("demo:%")
            )
        )
        assert fingerprint is not None
        bind(session, device.name, fingerprint, actor="demo", now=made)


def _why_not(session: Session, devices: list[DemoDevice], live: list[DemoDevice]) -> str:
    """Why this instance cannot take the history (empty: it can)."""
    names = [d.name for d in devices]
    if session.scalar(select(func.count()).where(Connector.name.in_(names))):
        return "it exists already"
    demo_certs = select(Certificate.id).where(Certificate.source.like("demo:%"))
    touched = session.scalar(
        select(func.count())
        .select_from(PushAttempt)
        .where(PushAttempt.certificate_id.in_(demo_certs))
    ) or session.scalar(
        select(func.count())
        .select_from(PushRequest)
        .where(PushRequest.certificate_id.in_(demo_certs))
    )
    if touched:
        return "the demo certificates have pushes of their own: history cannot precede them"
    wanted = {d.common_name for d in devices} | {d.common_name for d in live}
    present = set(
        session.scalars(
            select(Certificate.common_name).where(
                Certificate.common_name.in_(wanted),
                Certificate.source.like("demo:%"),
                Certificate.revoked_at.is_(None),
            )
        )
    )
    if present != wanted:
        return "demo certificates are missing"
    live_names = {d.name for d in live}
    if set(session.scalars(select(Connector.name).where(Connector.name.in_(live_names)))) != (
        live_names
    ):
        return "the demo devices are missing"
    people = [a.username for a in (OPERATOR, REVIEWER, IMPLEMENTER)]
    roles = {
        name: role
        for name, role in session.execute(
            select(User.username, User.role).where(User.username.in_(people))
        )
    }
    for actor in (OPERATOR, REVIEWER, IMPLEMENTER):
        if roles.get(actor.username) != actor.role:
            return f"the demo user {actor.username} ({actor.role}) is missing"
    return ""


def load_demo_history(
    session: Session, vault: Vault, settings: Settings, now: datetime
) -> HistorySummary:
    """Add the demo's ninety days of history before ``now``, unless this instance has it
    (or anything that history would have to precede); return what was added."""
    devices = history_devices(settings)
    live = {d.name: d for d in live_devices(settings)}
    reason = _why_not(session, devices, list(live.values()))
    if reason:
        return HistorySummary(skipped=reason)
    audit_before = session.scalar(select(func.max(AuditEvent.id))) or 0
    made = recorded_at(now)
    _history_connectors(session, vault, settings, devices, made)
    everything = {d.name: d for d in devices} | live
    rng = random.Random(SEED)
    history = _History(session, now, rng)
    history.devices = everything
    history.connectors = {
        c.name: (c.id, json.loads(c.settings)["cert_path"])
        for c in session.scalars(select(Connector).where(Connector.name.in_(everything)))
    }
    history.certificates = {
        cn: (id_, fingerprint)
        for cn, id_, fingerprint in session.execute(
            select(Certificate.common_name, Certificate.id, Certificate.fingerprint_sha256).where(
                Certificate.source.like("demo:%"), Certificate.common_name.is_not(None)
            )
        )
    }
    by_id = {id_: name for name, (id_, _) in history.connectors.items()}
    seen: Counter[int] = Counter()
    for endpoint_id, connector_id in session.execute(
        select(Endpoint.id, Endpoint.connector_id)
        .where(Endpoint.connector_id.in_(by_id))
        .order_by(Endpoint.id)
    ):
        history.endpoint_index[endpoint_id] = (by_id[connector_id], seen[connector_id])
        seen[connector_id] += 1
    drifted = live[DRIFT_DEVICE]
    if not drifted.cert_path.exists():
        write_placeholder(drifted)
    placeholder = x509.load_pem_x509_certificate(drifted.cert_path.read_bytes())
    history.drift_served = (
        hashlib.sha256(placeholder.public_bytes(Encoding.DER)).hexdigest(),
        placeholder.subject.rfc4514_string(),
        placeholder.not_valid_after_utc,
    )

    for req in _plan(rng, now, everything):
        history.at(req.at, partial(history.request, req=req))
    history.at(history.final_sweep, partial(history.sweep, final=True))
    history.run()

    session.execute(
        update(PushRequest).where(PushRequest.id.in_(history.request_ids)).values(demo=True)
    )
    _leave_devices_as_history_says(session, vault, devices)
    return _summary(session, audit_before, len(devices))


def _leave_devices_as_history_says(
    session: Session, vault: Vault, devices: list[DemoDevice]
) -> None:
    """Each history device's files hold what its newest successful push installed."""
    installed = {t.connector_id: t.certificate_id for t in targets(session)}
    ids = {name: id_ for name, id_ in session.execute(select(Connector.name, Connector.id))}
    for device in devices:
        certificate_id = installed.get(ids[device.name])
        if certificate_id is None:
            continue
        cert = session.get(Certificate, certificate_id)
        assert cert is not None
        material = material_for(session, vault, cert)
        write_device_files(device, material.cert_pem, material.key_pem)


def _summary(session: Session, audit_before: int, connectors: int) -> HistorySummary:
    """Counted from the rows marked as demo history, the way the report counts pushes."""
    ours = PushRequest.demo.is_(True)
    summary = HistorySummary(days=HISTORY_DAYS, connectors_added=connectors)
    summary.push_requests = (
        session.scalar(select(func.count()).select_from(PushRequest).where(ours)) or 0
    )
    pushes: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for status, verification, pushed_at in session.execute(
        select(WorkOrder.status, WorkOrder.verification, WorkOrder.pushed_at)
        .join(PushRequest, PushRequest.id == WorkOrder.request_id)
        .where(ours)
    ):
        statuses[status] += 1
        if pushed_at is not None:
            pushes[validation_of(status, verification).value] += 1
    summary.work_orders = dict(sorted(statuses.items()))
    summary.pushes = {s.value: pushes[s.value] for s in PushValidation}
    summary.push_attempts = {
        outcome: n
        for outcome, n in session.execute(
            select(PushAttempt.outcome, func.count())
            .join(WorkOrder, WorkOrder.id == PushAttempt.work_order_id)
            .join(PushRequest, PushRequest.id == WorkOrder.request_id)
            .where(ours)
            .group_by(PushAttempt.outcome)
            .order_by(PushAttempt.outcome)
        )
    }
    demo_sweeps = select(VerificationSweep.id).where(VerificationSweep.trigger == TRIGGER)
    summary.sweeps = session.scalar(select(func.count()).select_from(demo_sweeps.subquery())) or 0
    summary.verification_results = {
        outcome: n
        for outcome, n in session.execute(
            select(VerificationResult.outcome, func.count())
            .where(VerificationResult.sweep_id.in_(demo_sweeps))
            .group_by(VerificationResult.outcome)
            .order_by(VerificationResult.outcome)
        )
    }
    summary.drift = (
        session.scalar(
            select(func.count()).where(
                VerificationResult.sweep_id.in_(demo_sweeps), VerificationResult.drift.is_(True)
            )
        )
        or 0
    )
    summary.audit_events = (
        session.scalar(select(func.count()).where(AuditEvent.id > audit_before)) or 0
    )
    return summary
