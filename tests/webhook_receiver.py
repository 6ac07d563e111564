"""A real HTTP webhook receiver on 127.0.0.1 (http.server in a thread): what Apprise's
``json://`` channels post to in the tests. It keeps every request's path, headers and body.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """``with Receiver() as hook:`` serves until the block ends; ``hook.url("user:pw")``
    is a json:// channel URL pointing at it; ``hook.received`` the posts, in order, each
    with its path, headers, body (text) and ``json`` (the parsed body, or None)."""

    def __init__(self, status: int = 200):
        self.status = status
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    parsed: Any = json.loads(body)
                except ValueError:
                    parsed = None
                receiver.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body,
                     "json": parsed}
                )  # fmt: skip
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    def url(self, credentials: str = "", path: str = "hook") -> str:
        at = f"{credentials}@" if credentials else ""
        return f"json://{at}127.0.0.1:{self.port}/{path}"

    def messages(self) -> list[dict[str, Any]]:
        """The JSON bodies received (Apprise's json:// posts title, message, type...)."""
        return [json.loads(r["body"]) for r in self.received if r["body"].startswith("{")]

    def wait(self, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages()

    def wait_for(self, predicate, *, timeout: float = 10.0, what: str = "a webhook") -> dict:
        """The first post matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for item in list(self.received):
                if predicate(item):
                    return item
            assert time.monotonic() < deadline, f"{what} never arrived"
            time.sleep(0.05)
