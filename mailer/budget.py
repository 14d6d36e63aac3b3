"""A time budget for processing one mail, enforced by a timer that no `except Exception` swallows."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 30


def lease_seconds(budget_seconds: float) -> float:
    """How long a worker holds a mail for one attempt: its budget and a margin, so that only a
    dead worker's lease runs out."""
    return budget_seconds + LEASE_MARGIN_SECONDS


class OverBudget(BaseException):
    """Processing one mail took longer than its budget. A BaseException on purpose: library code
    and our own `except Exception` blocks (a job's timeout that was swallowed by one stalled the
    whole service) must not be able to catch it and carry on."""

    def __init__(self, seconds: float):
        super().__init__(f"processing took longer than its {seconds:g}-second budget")
        self.seconds = seconds


@contextlib.contextmanager
def limit(seconds: float):
    """Raise OverBudget in this block after `seconds` of wall-clock time.

    SIGALRM interrupts Python code between bytecodes; every C call on the way (the HTML parser,
    base64, SQLite) is linear in the mail's size, so it returns soon. An outer alarm (RQ's own
    job timeout uses SIGALRM too) is saved and re-armed with its remaining time afterwards.
    Signals only reach the main thread: elsewhere the block runs unbudgeted (logged)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        if seconds > 0:
            log.debug("no time budget outside the main thread")
        yield
        return
    started = time.monotonic()
    outer_handler = signal.getsignal(signal.SIGALRM)
    outer_left = signal.getitimer(signal.ITIMER_REAL)[0]
    limit_seconds = min(seconds, outer_left) if outer_left else seconds

    def expired(signum, frame):
        # Whichever deadline came first (ours, or the job's around us), the mail is charged with
        # a BaseException: the job's own timeout is an ordinary Exception that any except in
        # the pipeline would swallow, half-way through some other step.
        raise OverBudget(limit_seconds)

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, limit_seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        left = outer_left - (time.monotonic() - started) if outer_left else 0
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left)
        elif outer_left:  # spent here: not fired again in the next mail, which has its own budget
            log.warning("the job's deadline passed while processing one mail; the rest keep theirs")
