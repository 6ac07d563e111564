"""Moves the wall clock of every Python process of a shifted-clock run (.ci/clock).

.ci/clock puts this folder on PYTHONPATH and sets CERTPUSH_TEST_CLOCK_OFFSET (seconds):
Python imports this module at start-up, so pytest and every Python process it starts
(the CLI, gunicorn and its workers, the scheduler, the demo devices) read
``real time + offset`` from ``datetime.now``, ``date.today`` and ``time.time``, and
agree with each other. The clock keeps ticking; the monotonic clock is left alone, so
timeouts and polling loops are unchanged. Chromium, nginx and PostgreSQL keep the real
clock: nothing they do depends on the date (the browser only reports its zone name).

Why not libfaketime: Debian's 0.9.10 fakes CLOCK_MONOTONIC as wall-clock time, and
Python 3.11's timed lock waits (``sem_clockwait``, which it does not intercept) then
never return - APScheduler's loop stops after its first run; with --exclude-monotonic,
``time.sleep`` fails with EINVAL instead (libfaketime issue 426).
"""

import os

_offset = os.environ.get("CERTPUSH_TEST_CLOCK_OFFSET")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
