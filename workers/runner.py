"""`postdesk worker`: RQ while Redis answers, the database itself while it does not.

The InboundMail and Outbox tables are the durable queues; Redis only makes handing work over
fast. So when Redis goes away the worker leaves RQ's loop (which would otherwise wait for Redis
forever) and takes stored mail and due deliveries straight from the database, leasing each row
as RQ jobs do, until Redis answers again."""

from __future__ import annotations

import logging
import signal
import threading
import time

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested

from models import inbound, outbox
from postdesk import runtime

from . import handover, outgoing, processing, schedule

log = logging.getLogger(__name__)

DATABASE_POLL_SECONDS = 1.0
WORKER_TTL = 60  # RQ waits for a job up to WORKER_TTL - 15 seconds in one blocking read
HEARTBEAT_SECONDS = 1.0  # RQ renews the worker's key for WORKER_TTL + 60 seconds each time


class Worker(SimpleWorker):
    """SimpleWorker (jobs run in this process: no fork per job, ≈170 jobs/s against ≈50) that
    stops, instead of retrying for ever, when it loses Redis."""

    signalled = False
    beaten_at = -HEARTBEAT_SECONDS

    def request_stop(self, signum, frame):
        self.signalled = True  # RQ marks only a busy worker as stopping; we need to know either way
        return super().request_stop(signum, frame)

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's heartbeat, at most once a second when it only renews the worker's default TTL:
        RQ sends one before and after every dequeue and after every job, three round trips each,
        about half its cost per job, while the TTL it renews is two minutes long. A heartbeat
        that sets a job's longer TTL, or goes in one of RQ's pipelines, is always sent."""
        renewal = timeout is None and pipeline is None
        if renewal and time.monotonic() - self.beaten_at < HEARTBEAT_SECONDS:
            return
        try:
            super().heartbeat(timeout, pipeline)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("worker lost Redis (%s)", exc)
            raise StopRequested() from None
        if renewal:
            self.beaten_at = time.monotonic()

    def set_state(self, state, pipeline=None):
        """RQ's, without the round trip when the state is the one last set: RQ marks the worker
        idle after each job and again as it waits for the next."""
        if pipeline is None and state == self.get_state():
            return
        super().set_state(state, pipeline)


def run(settings, verbose: bool = False) -> int:
    stop = threading.Event()
    _install_stop_handlers(stop)
    schedule.start_clock(settings, stop)
    from_database = False
    while not stop.is_set():
        answers = redis_answers(settings)
        if not answers and not from_database:  # said once per outage, however Redis was found gone
            log.warning("Redis does not answer; taking work from the database")
        from_database = not answers
        if answers:
            # The blocking read of a job must not outlast the socket timeout, or an idle worker
            # logs "Timeout reading from socket" errors while nothing is wrong.
            connection = redis.Redis.from_url(runtime.redis_url(settings), socket_connect_timeout=2,
                                              socket_timeout=WORKER_TTL + 10, health_check_interval=30)
            worker = Worker([runtime.queue(settings, connection)], connection=connection,
                            worker_ttl=WORKER_TTL)
            log.info("worker listening on queue %s at %s", settings.redis.queue_prefix,
                     runtime.redis_url(settings))
            if stop.is_set():
                break
            try:
                worker.work(with_scheduler=True, logging_level="DEBUG" if verbose else "WARNING")
            except redis.RedisError as exc:  # its clean-up needs Redis too
                log.debug("worker teardown without Redis: %s", exc)
            if worker.signalled:
                break  # SIGTERM or Ctrl-C (RQ installs the handlers while it works)
            _install_stop_handlers(stop)
        elif not work_from_database(settings):
            stop.wait(DATABASE_POLL_SECONDS)
    stop.set()
    return 0


def redis_answers(settings) -> bool:
    try:
        runtime.redis_connection(settings).ping()
        return True
    except redis.RedisError:
        return False


def work_from_database(settings, limit: int = handover.BATCH_SIZE) -> int:
    """Process stored mail no worker holds and send due deliveries, without Redis. Returns how
    many rows it handled (0: nothing to do)."""
    handled = 0
    for inbound_id in inbound.stale_ids(0, limit=limit):
        # A reply whose question another worker holds waits for it, as on the RQ path.
        handled += processing.process_stored(settings, inbound_id, allow_defer=True) != "deferred"
    due = outbox.due_ids(limit=limit)
    if due:
        outgoing.deliver_batch(due)  # over one relay connection
    return handled + len(due)


def _install_stop_handlers(stop: threading.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
