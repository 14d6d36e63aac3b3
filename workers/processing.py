"""Jobs that process stored inbound mail, and the hand-over of stored mail to them.

Each job takes ids and leases its rows first, so running it twice does its work once: the
database is the guard, RQ only carries the ids."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import redis
from rq.timeouts import BaseTimeoutException

from mailer import pipeline
from postdesk import runtime

from .handover import QUICK_RETRIES, job_timeout
from .outgoing import deliver, enqueue_deliveries

log = logging.getLogger(__name__)


MAX_DEFERRALS = 10  # about ten seconds, then the mail is processed as it stands


@dataclass(frozen=True)
class Processed:
    outcome: str
    outbox_ids: tuple[int, ...] = ()


def process_inbound(inbound_id: int, notify: bool = True, deferrals: int = 0) -> str:
    """The job for one stored mail: process it, enqueue its outgoing mail, return the outcome."""
    settings = runtime.settings()
    result = handle(settings, inbound_id, notify=notify, deferrals=deferrals)
    enqueue_deliveries(settings, list(result.outbox_ids))
    return result.outcome


def handle(settings, inbound_id: int, notify: bool = True, deferrals: int = 0,
           wait: bool = True) -> Processed:
    """Process one stored mail; the caller enqueues the outgoing mail returned. A mail answering
    one not processed yet is retried shortly, then handed to the scheduler; with wait=False it is
    returned "deferred" to the caller instead."""
    ctx = pipeline.process(settings, inbound_id, notify=notify, allow_defer=deferrals < MAX_DEFERRALS)
    if ctx.outcome == "deferred" and not wait:
        return Processed("deferred")
    for _ in range(QUICK_RETRIES if ctx.outcome == "deferred" else 0):
        # The mail it answers is usually being committed by another worker right now.
        time.sleep(0.02)
        ctx = pipeline.process(settings, inbound_id, notify=notify, allow_defer=True)
        if ctx.outcome != "deferred":
            break
    if ctx.outcome == "deferred":
        _retry_later(settings, inbound_id, deferrals + 1)
    return Processed(ctx.outcome, tuple(ctx.outbox_ids))


def process_inbound_batch(inbound_ids: list[int]) -> dict:
    """Several stored mails in one job and one transaction (`pipeline.process_many`): an RQ job
    costs ~3 ms of worker time and a commit about 1 ms, close to what processing a mail costs.
    One mail's failure is recorded on its row and does not stop the rest. Mail can arrive before
    the mail it answers (parallel SMTP connections), so a deferred mail is tried again after the
    rest of its batch, which often holds what it waits for, in a transaction of its own that sees
    whatever was stored meanwhile."""
    settings = runtime.settings()
    outcomes: dict[str, int] = {}
    deliveries: list[int] = []
    deferred = []
    for inbound_id, result in zip(inbound_ids, _process_safely(settings, inbound_ids), strict=True):
        if result.outcome == "deferred":
            deferred.append(inbound_id)
        else:
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            deliveries += result.outbox_ids
    for inbound_id in deferred:
        result = _handle_safely(settings, inbound_id, wait=True)
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        deliveries += result.outbox_ids
    enqueue_deliveries(settings, deliveries)
    return outcomes


def _process_safely(settings, inbound_ids: list[int]) -> list[Processed]:
    try:
        contexts = pipeline.process_many(settings, inbound_ids, allow_defer=True)
    except BaseTimeoutException:
        raise  # the job's own deadline: never swallowed (the mails' leases keep them safe)
    except Exception:  # e.g. the database is unreachable: the rows stay stored, the sweeper retries
        log.exception("inbound %s could not be processed", inbound_ids)
        return [Processed("failed") for _ in inbound_ids]
    return [Processed(ctx.outcome, tuple(ctx.outbox_ids)) for ctx in contexts]


def _handle_safely(settings, inbound_id: int, wait: bool) -> Processed:
    try:
        return handle(settings, inbound_id, wait=wait)
    except BaseTimeoutException:
        raise  # the job's own deadline: never swallowed (the mail's lease keeps it safe)
    except Exception:  # e.g. the database is unreachable: the row stays stored, the sweeper retries
        log.exception("inbound %d could not be processed", inbound_id)
        return Processed("failed")


def process_stored(settings, inbound_id: int, allow_defer: bool = False) -> str:
    """One stored mail without Redis, its deliveries sent here and now. With allow_defer, a mail
    answering one that is stored but not processed yet comes back "deferred" (and stays stored)
    instead of opening a ticket of its own; it is bounded, since every stored mail ends processed,
    rejected or quarantined."""
    try:
        ctx = pipeline.process(settings, inbound_id, allow_defer=allow_defer)
    except Exception:
        log.exception("inbound %d could not be processed", inbound_id)
        return "failed"
    for outbox_id in ctx.outbox_ids:
        deliver(outbox_id)
    return ctx.outcome


def _retry_later(settings, inbound_id: int, deferrals: int) -> None:
    try:
        runtime.queue(settings).enqueue_in(dt.timedelta(seconds=1), process_inbound, inbound_id,
                                           deferrals=deferrals, job_timeout=job_timeout(settings, 1))
    except redis.RedisError as exc:
        log.warning("inbound %d deferred but not re-enqueued (%s); the sweeper will retry", inbound_id, exc)
