"""A real SMTP server for notification tests (aiosmtpd on 127.0.0.1), recording what
arrives; the webhook receiver is tests/webhook_receiver.py.

The SMTP server accepts a message the way a mail server does: only when it answers the
final "." of DATA with 250. ``stall`` holds that answer back (a slow or hung server); a
client that dies meanwhile has therefore not delivered, exactly as with a real server,
and the message is not recorded. It can be stopped and started again on the same port
(a mail server down for a while).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port


@dataclass(frozen=True)
class Received:
    """One accepted message: parsed, with its envelope and the time it was accepted."""

    message: EmailMessage
    envelope_to: tuple[str, ...]
    at: float  # time.time() when the server accepted it
    raw: bytes

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, content_type: str) -> str:
        found = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        assert found is not None and found.get_content_type() == content_type, content_type
        return found.get_content()

    def attachments(self) -> dict[str, bytes]:
        return {
            a.get_filename(): a.get_payload(decode=True) for a in self.message.iter_attachments()
        }


class _Handler:
    def __init__(self, box: TestSmtpServer):
        self.box = box

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.box.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.box.stall_seconds:
            self.box.stalled.set()
            # Cancelled when the client goes away: then nothing was accepted.
            await asyncio.sleep(self.box.stall_seconds)
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        with self.box.lock:
            self.box.messages.append(Received(parsed, tuple(envelope.rcpt_tos), time.time(), raw))
        return "250 Message accepted for delivery"


class TestSmtpServer:
    """aiosmtpd on 127.0.0.1 at a free port; ``url`` is its CERTPUSH_SMTP_URL."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, port: int | None = None, **smtp_options: Any):
        self.port = port or free_port()
        self.smtp_options = smtp_options  # aiosmtpd's SMTP options (authenticator...)
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.stall_seconds = 0.0
        self.refuse: set[str] = set()  # recipients answered 550
        self.stalled = threading.Event()  # set when a DATA answer is being held back
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> TestSmtpServer:
        controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                decode_data=False, ready_timeout=10,
                                **self.smtp_options)  # fmt: skip
        deadline = time.monotonic() + 30
        while True:  # the same port again: an old socket may linger a moment
            try:
                controller.start()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                        decode_data=False, ready_timeout=10,
                                **self.smtp_options)  # fmt: skip
                time.sleep(0.2)
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, predicate, *, timeout: float = 10.0, what: str = "a message") -> Received:
        """The first received message matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.received():
                if predicate(item):
                    return item
            assert time.monotonic() < deadline, f"{what} never arrived"
            time.sleep(0.05)

    def wait_count(self, count: int, *, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received()) < count:
            got = len(self.received())
            assert time.monotonic() < deadline, f"{got} of {count} messages arrived"
            time.sleep(0.05)
        return self.received()


def _serve(port: int, log_path: str) -> None:
    """``python -m tests.notify_servers PORT LOG``: the SMTP server in a process of its own
    (benchmarks: it must not share the sender's interpreter), appending one line per
    accepted message to LOG: its acceptance time and its Message-ID."""
    import signal

    server = TestSmtpServer(port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    done = 0
    with open(log_path, "a", buffering=1) as log:
        while not stop.wait(0.02):
            items = server.received()
            for item in items[done:]:
                log.write(f"{item.at:.6f} {item.message_id}\n")
            done = len(items)
    server.stop()


if __name__ == "__main__":
    import sys

    _serve(int(sys.argv[1]), sys.argv[2])
