"""Spread a large sweep's handshakes over a few worker processes.

One selector thread (jobs/probe.py) is CPU-bound on the TLS handshakes themselves
(OpenSSL's ``do_handshake`` is about 0.5 ms of client CPU per endpoint), so one
process tops out near 1,400 endpoints/s. So the endpoints are cut into small
chunks that this process and one worker per extra core pull from one queue as
their connections free up: nobody idles while a worker starts, and a hung endpoint
holds one connection slot, not a share of the fleet. Small sweeps stay in-process:
starting workers costs more than they save.

Workers are started by a ``forkserver`` (not ``fork``): the scheduler process runs
threads, and forking a threaded process can copy a lock in its held state.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from multiprocessing.connection import Connection, wait
from pathlib import Path

from data.domain.connector_specs import EndpointSpec
from data.domain.verification import ProbeOutcome
from jobs.probe import ProbeResult, probe_many, resolve_names

Request = tuple[Hashable, EndpointSpec, str]

MIN_PER_WORKER = 250  # below this a worker's start-up (about 0.1 s) costs more than it saves
PROGRESS_EVERY = 100
CHUNK = 32  # requests per hand-out: small enough to balance, large enough to be cheap


def default_processes() -> int:
    """One worker per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def _worker(conn: Connection, concurrency: int, timeout: float, bound, resolved) -> None:
    """Runs in a worker: probe chunks asked from the sweep until it has none left."""
    done = 0

    def chunks():
        conn.send(("want", None))
        while chunk := conn.recv():
            conn.send(("want", None))  # ask ahead: the next chunk arrives while this one runs
            yield from chunk

    def progress(_key, _result) -> None:
        nonlocal done
        done += 1
        if done % PROGRESS_EVERY == 0:
            conn.send(("progress", PROGRESS_EVERY))

    try:
        results = probe_many(
            chunks(),
            concurrency=concurrency,
            timeout=timeout,
            bound=bound,
            on_result=progress,
            resolved=resolved,
        )
        conn.send(("progress", done % PROGRESS_EVERY))
        conn.send(("usage", _own_usage()))
        conn.send(("results", results))
    finally:
        conn.close()


def _own_usage() -> dict[str, float]:
    """This worker's CPU seconds and peak resident memory, for the caller's accounting."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss
    with contextlib.suppress(OSError):  # VmHWM: unlike ru_maxrss, not inherited across fork
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak_kb = int(line.split()[1])
    return {"cpu": usage.ru_utime + usage.ru_stime, "peak_mb": peak_kb / 1024}


def _context():
    """The forkserver context, preloading what a worker's start would import again.

    multiprocessing re-runs the parent's main module in every worker (as
    ``__mp_main__``): for the scheduler that is jobs/scheduler.py and all it imports.
    Preloading our modules and the main module's own (by name) in the forkserver
    makes that re-run a cache hit instead of a second of imports per worker.
    """
    context = multiprocessing.get_context("forkserver")
    main_name = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)
    ours = sorted(m for m in list(sys.modules) if m.split(".")[0] in ("data", "jobs"))
    preload = ["jobs.probe", *ours]
    if main_name and not main_name.endswith("__main__"):
        preload.append(main_name)
    context.set_forkserver_preload(preload)
    return context


def warm_up(processes: int | None = None) -> None:
    """Start the forkserver now (the scheduler does, at start), not in the first sweep."""
    if (default_processes() if processes is None else processes) > 1:
        from multiprocessing import forkserver

        _context()
        forkserver.ensure_running()


def probe_sharded(
    requests: list[Request],
    *,
    concurrency: int,
    timeout: float,
    bound: float,
    processes: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    min_per_worker: int = MIN_PER_WORKER,
    usage: list[dict[str, float]] | None = None,
    chunk: int = CHUNK,
) -> dict[Hashable, ProbeResult]:
    """Probe ``requests`` on up to ``processes`` workers (in-process when that is cheaper).

    ``concurrency`` is the total number of connections open at once, shared between
    the workers. A worker that dies or outlives ``bound`` leaves its endpoints
    reported as timed out with the reason, never missing. Each worker's CPU seconds
    and peak memory are appended to ``usage`` when given (workers are the forkserver's
    children, so the caller's own resource accounting does not see them).
    """
    total = len(requests)
    processes = default_processes() if processes is None else max(1, processes)
    processes = min(processes, max(1, total // max(1, min_per_worker)))
    done = 0
    lock = threading.Lock()

    def tick(count: int) -> None:
        nonlocal done
        with lock:
            done += count
            so_far = done
        if on_progress is not None and count:
            on_progress(so_far, total)

    resolved = resolve_names([endpoint for _k, endpoint, _e in requests], timeout)
    work = _WorkQueue(requests, chunk)
    per_process = max(1, concurrency // processes)
    remote: dict[Hashable, ProbeResult] = {}
    collector = None
    if processes > 1:
        # Workers start (about 0.1 s each) while this process already probes.
        collector = threading.Thread(
            target=_run_workers,
            args=(processes - 1, work, per_process, timeout, bound, resolved, tick, usage, remote),
            name="probe-workers",
            daemon=True,
        )
        collector.start()
    results = probe_many(
        work.iterate(),
        concurrency=per_process,
        timeout=timeout,
        bound=bound,
        on_result=lambda _k, _r: tick(1),
        resolved=resolved,
    )
    if collector is not None:
        collector.join(timeout=bound + 15)
        with lock:
            results.update(remote)
    _lost(results, requests, f"the sweep's time bound ({bound:.0f} s) ran out")
    return results


class _WorkQueue:
    """The sweep's requests in chunks, handed out in order (slow endpoints first)."""

    def __init__(self, requests: list[Request], size: int = CHUNK):
        self._chunks = deque(requests[i : i + size] for i in range(0, len(requests), size))
        self._lock = threading.Lock()

    def take(self) -> list[Request]:
        with self._lock:
            return self._chunks.popleft() if self._chunks else []

    def iterate(self):
        while chunk := self.take():
            yield from chunk


def _run_workers(count, work, per_worker, timeout, bound, resolved, tick, usage, results) -> None:
    """In a thread of the sweep: start workers, feed them chunks, collect what they find."""
    context = _context()
    workers, taken = [], {}
    for _ in range(count):
        parent, child = context.Pipe()
        worker = context.Process(
            target=_worker, args=(child, per_worker, timeout, bound, resolved), daemon=True
        )
        worker.start()
        child.close()
        workers.append(worker)
        taken[parent] = []  # the chunks this worker took: lost if it dies
    deadline = time.monotonic() + bound + 5  # the workers bound themselves; this is a backstop
    try:
        while taken and time.monotonic() < deadline:
            for conn in wait(list(taken), timeout=max(0.0, deadline - time.monotonic())):
                try:
                    kind, payload = conn.recv()
                except EOFError:  # the worker died without its results
                    for chunk in taken.pop(conn):
                        _lost(results, chunk, "the probing worker process died")
                    continue
                if kind == "want":
                    chunk = work.take()
                    taken[conn].append(chunk)
                    conn.send(chunk)
                elif kind == "progress":
                    tick(payload)
                elif kind == "usage":
                    if usage is not None:
                        usage.append(payload)
                else:
                    results.update(payload)
                    taken.pop(conn)
        for chunks in taken.values():
            for chunk in chunks:
                _lost(results, chunk, f"the sweep's time bound ({bound:.0f} s) ran out")
    finally:
        for worker in workers:
            worker.join(timeout=1)
            if worker.is_alive():
                worker.kill()
                worker.join()


def _lost(results: dict, shard: list[Request], reason: str) -> None:
    for key, _endpoint, _expected in shard:
        results.setdefault(key, ProbeResult(ProbeOutcome.TIMEOUT, reason))
