"""Handing stored mail to the workers: all that the edges need of the worker API.

It names the jobs instead of importing them, so storing a mail does not load the pipeline: with
Postfix piping each mail to `postdesk ingest`, every mail pays for what that process imports."""

from __future__ import annotations

import logging
import threading

import redis

from mailer.budget import lease_seconds
from postdesk import runtime

log = logging.getLogger(__name__)

BATCH_SIZE = 20
QUICK_RETRIES = 10  # 20 ms apart, before handing the wait to RQ's scheduler (1 s resolution)
PROCESS_ONE = "workers.processing.process_inbound"
PROCESS_BATCH = "workers.processing.process_inbound_batch"


def job_timeout(settings, mails: int) -> int:
    """Each mail has its own budget; the job's timeout is only the backstop behind them, long
    enough for every mail's budget on every quick retry of a deferred one."""
    per_mail = (QUICK_RETRIES + 1) * lease_seconds(settings.worker.mail_budget_seconds)
    return mails * per_mail + 60


def enqueue_processing(settings, inbound_ids: list[int]) -> bool:
    """Hand stored mail to the workers, one job for all. False when Redis is unreachable: the
    mail is safe in the database and the sweeper picks it up once Redis is back."""
    timeout = job_timeout(settings, len(inbound_ids))
    try:
        if len(inbound_ids) == 1:
            runtime.queue(settings).enqueue(PROCESS_ONE, inbound_ids[0], job_timeout=timeout)
        else:
            runtime.queue(settings).enqueue(PROCESS_BATCH, inbound_ids, job_timeout=timeout)
    except redis.RedisError as exc:
        log.warning("inbound %s stored but not enqueued (%s); the sweeper will retry", inbound_ids, exc)
        return False
    return True


class Batcher:
    """Hands stored mail to the workers in batches of up to `size`, each waiting at most `wait`
    seconds for company. Anything not yet handed over when the process dies is stored: the
    sweeper enqueues it."""

    def __init__(self, settings, size: int = BATCH_SIZE, wait: float = 0.05):
        self.settings, self.size, self.wait = settings, size, wait
        self.pending: list[int] = []
        self.lock = threading.Lock()
        self.has_items, self.full = threading.Event(), threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="postdesk-batcher", daemon=True)
        self.thread.start()

    def add(self, inbound_id: int) -> None:
        with self.lock:
            self.pending.append(inbound_id)
            self.has_items.set()
            if len(self.pending) >= self.size:
                self.full.set()

    def close(self) -> None:
        self.closed = True
        self.has_items.set()
        self.full.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self.has_items.wait()
            self.full.wait(self.wait)  # early when a batch is full
            with self.lock:
                batch, self.pending = self.pending, []
                self.has_items.clear()
                self.full.clear()
            for start in range(0, len(batch), self.size):
                enqueue_processing(self.settings, batch[start:start + self.size])
            if self.closed:
                return
