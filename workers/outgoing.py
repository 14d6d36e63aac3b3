"""Jobs that deliver outgoing mail: each claims its Outbox row first, so a job run twice sends once."""

from __future__ import annotations

import logging

import redis

from mailer import delivery
from models import outbox
from postdesk import runtime

log = logging.getLogger(__name__)

BATCH_SIZE = 20


def deliver(outbox_id: int) -> str:
    """Send one row; returns its state afterwards ("sent", "failed", "dead") or "skipped"."""
    settings = runtime.settings()
    row = outbox.claim(outbox_id)
    if row is None:
        return "skipped"
    try:
        delivery.transport_for(settings).send(row.mail_from, [row.rcpt_to], bytes(row.raw), f"{row.id}")
    except delivery.DeliveryError as exc:
        state = outbox.mark_failed(row, str(exc), exc.permanent, settings.outgoing.max_attempts,
                                   settings.outgoing.retry_base_seconds)
        log.warning("outbox %d %s to %s: %s (%s)", row.id, row.message_id, row.rcpt_to, exc, state)
        return state
    outbox.mark_sent(row)
    log.info("outbox %d %s sent to %s", row.id, row.message_id, row.rcpt_to)
    return "sent"


def deliver_batch(outbox_ids: list[int]) -> dict:
    outcomes: dict[str, int] = {}
    for outbox_id in outbox_ids:
        state = deliver(outbox_id)
        outcomes[state] = outcomes.get(state, 0) + 1
    return outcomes


def enqueue_deliveries(settings, outbox_ids: list[int]) -> None:
    """Hand rows to the workers after their commit. A Redis failure is logged: the sweeper
    enqueues due rows that no job took."""
    if not outbox_ids:
        return
    # A slow relay may take its whole timeout per message: give each job room for its batch.
    timeout = BATCH_SIZE * (settings.outgoing.timeout_seconds + 5)
    try:
        q = runtime.queue(settings)
        if len(outbox_ids) == 1:
            q.enqueue(deliver, outbox_ids[0])
        else:
            for start in range(0, len(outbox_ids), BATCH_SIZE):
                q.enqueue(deliver_batch, outbox_ids[start:start + BATCH_SIZE], job_timeout=timeout)
    except redis.RedisError as exc:
        log.warning("outbox %s not enqueued (%s); the sweeper will retry", outbox_ids, exc)
