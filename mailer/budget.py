"""A time budget for processing one mail, enforced by a timer that no `except Exception` swallows."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time

log = logging.getLogger(__name__)


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

    def expired(signum, frame):
        if outer_left and time.monotonic() - started >= outer_left - 0.001 and callable(outer_handler):
            outer_handler(signum, frame)  # the outer deadline came first: it is theirs to handle
        raise OverBudget(seconds)

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left) if outer_left else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_left:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, outer_left - (time.monotonic() - started)))
