"""A zone as a Linux network namespace (iproute2, root): its own loopback, unreachable
from the host, and a veth pair whose host end is the zone's only way out.

Traffic goes only to the namespace's loopback and to the veth addresses the test made.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class Zone:
    name: str
    host_address: str  # the host's end of the veth pair
    inner_address: str

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)


def make_zone(prefix: str = "cpz") -> Zone:
    octet = random.randint(1, 250)
    name = f"{prefix}{os.getpid() % 10000}{octet}"
    host, inner = f"10.201.{octet}.1", f"10.201.{octet}.2"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", f"{name}h", "type", "veth", "peer", "name", f"{name}n")
        _ip("link", "set", f"{name}n", "netns", name)
        _ip("addr", "add", f"{host}/30", "dev", f"{name}h")
        _ip("link", "set", f"{name}h", "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{inner}/30", "dev", f"{name}n")
        _ip("netns", "exec", name, "ip", "link", "set", f"{name}n", "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    except subprocess.CalledProcessError:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        raise
    return Zone(name, host, inner)


class Forward:
    """TCP from ``listen`` (the veth's host end) to ``target`` (the broker on 127.0.0.1):
    the only door from the zone to the central side."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        self.server = socket.create_server(listen)
        self.target = target
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        self.server.settimeout(0.3)
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.stopped.set()
        self.server.close()
