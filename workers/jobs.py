"""RQ jobs. Each takes ids, reloads its rows and checks their state first, so running a job
twice does its work once: the database is the guard, RQ only carries the ids."""

from __future__ import annotations

import logging

import redis

from mailer import delivery, pipeline
from models import inbound, outbox
from postdesk import runtime

log = logging.getLogger(__name__)


def process_inbound(inbound_id: int, notify: bool = True) -> str:
    settings = runtime.settings()
    ctx = pipeline.process(settings, inbound_id, notify=notify)
    enqueue_deliveries(settings, ctx.outbox_ids)
    return ctx.outcome


def deliver(outbox_id: int) -> str:
    settings = runtime.settings()
    row = outbox.claim(outbox_id)
    if row is None:
        return "skipped"
    try:
        delivery.transport_for(settings).send(row.mail_from, row.rcpt_to.split("\n"),
                                              bytes(row.raw), f"{row.id}")
    except delivery.DeliveryError as exc:
        state = outbox.mark_failed(row, str(exc), exc.permanent, settings.outgoing.max_attempts,
                                   settings.outgoing.retry_base_seconds)
        log.warning("outbox %d %s to %s: %s (%s)", row.id, row.message_id, row.rcpt_to, exc, state)
        return state
    outbox.mark_sent(row)
    log.info("outbox %d %s sent to %s", row.id, row.message_id, row.rcpt_to)
    return "sent"


def sweep() -> dict:
    """Re-enqueue what was left behind: mail stored while Redis was down or whose job was lost,
    and deliveries due for a retry."""
    settings = runtime.settings()
    stale = inbound.stale_ids(settings.worker.stale_after_seconds)
    due = outbox.due_ids()
    q = runtime.queue(settings)
    for inbound_id in stale:
        q.enqueue(process_inbound, inbound_id)
    enqueue_deliveries(settings, due)
    if stale or due:
        log.info("sweep: re-enqueued %d inbound, %d deliveries", len(stale), len(due))
    return {"inbound": len(stale), "outbox": len(due)}


def enqueue_processing(settings, inbound_id: int) -> bool:
    """Hand a stored mail to the workers. False when Redis is unreachable: the mail is safe in
    the database and the sweeper picks it up once Redis is back."""
    try:
        runtime.queue(settings).enqueue(process_inbound, inbound_id)
    except redis.RedisError as exc:
        log.warning("inbound %d stored but not enqueued (%s); the sweeper will retry", inbound_id, exc)
        return False
    return True


def enqueue_deliveries(settings, outbox_ids: list[int]) -> None:
    if not outbox_ids:
        return
    try:
        q = runtime.queue(settings)
        for outbox_id in outbox_ids:
            q.enqueue(deliver, outbox_id)
    except redis.RedisError as exc:
        log.warning("outbox %s not enqueued (%s); the sweeper will retry", outbox_ids, exc)
