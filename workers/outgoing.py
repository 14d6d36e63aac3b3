"""Jobs that deliver outgoing mail: each claims its Outbox row first, so a job run twice sends once."""

from __future__ import annotations

import logging

import redis

from mailer import delivery, logcontext
from models import customers, outbox
from postdesk import runtime

log = logging.getLogger(__name__)

BATCH_SIZE = 20


def deliver(outbox_id: int) -> str:
    """Send one row; returns its state afterwards ("sent", "failed", "dead") or "skipped"."""
    settings = runtime.settings()
    with delivery.transport_for(settings) as transport:
        return send_row(settings, transport, outbox_id)


def deliver_batch(outbox_ids: list[int]) -> dict:
    """Send several rows over one relay connection; returns how many ended in each state. Each
    row is claimed just before its own send and marked right after it, as `send_row` does, but
    a sent row's mark and the next row's claim are one transaction: on SQLite every transaction
    waits for the one write lock, which the other workers hold for whole batches."""
    settings = runtime.settings()
    outcomes: dict[str, int] = {}
    with delivery.transport_for(settings) as transport:
        row = _claim(outbox_ids[0] if outbox_ids else None)
        for following in [*outbox_ids[1:], None]:
            if row is None:
                state, row = "skipped", _claim(following)
            else:
                with logcontext.about(message_id=row.message_id, outbox=row.id):
                    state, row = _send(settings, transport, row, following)
            outcomes[state] = outcomes.get(state, 0) + 1
    return outcomes


def send_row(settings, transport, outbox_id: int) -> str:
    """Claim the row, then send it unless its recipient is suppressed. Each row is claimed just
    before its own send and marked right after it, so a crash mid-batch leaves at most the one
    row in flight to be retried, never a sent one to be sent again."""
    row = outbox.claim(outbox_id)
    if row is None:
        return "skipped"
    with logcontext.about(message_id=row.message_id, outbox=row.id):
        return _send(settings, transport, row)[0]


def _send(settings, transport, row, following: int | None = None) -> tuple[str, object]:
    """Send the claimed row; returns its state afterwards, and the row `following` claimed (None
    when there is none, or it is not due)."""
    reason = customers.suppression_reason(row.rcpt_to, row.kind)
    if reason:
        outbox.mark_failed(row, f"suppressed: {reason}", True, settings.outgoing.max_attempts,
                           settings.outgoing.retry_base_seconds)
        log.info("outbox %d %s to %s not sent: %s", row.id, row.message_id, row.rcpt_to, reason)
        return "dead", _claim(following)
    try:
        transport.send(row.mail_from, [row.rcpt_to], bytes(row.raw), f"{row.id}")
    except delivery.DeliveryError as exc:
        state = outbox.mark_failed(row, str(exc), exc.permanent, settings.outgoing.max_attempts,
                                   settings.outgoing.retry_base_seconds)
        log.warning("outbox %d %s to %s: %s (%s)", row.id, row.message_id, row.rcpt_to, exc, state)
        return state, _claim(following)
    following_row = outbox.mark_sent(row, claim_next=following)
    log.info("outbox %d %s sent to %s", row.id, row.message_id, row.rcpt_to)
    return "sent", following_row


def _claim(outbox_id: int | None):
    return outbox.claim(outbox_id) if outbox_id is not None else None


def enqueue_deliveries(settings, outbox_ids: list[int]) -> None:
    """Hand rows to the workers after their commit, in batches that share a relay connection.
    A Redis failure is logged: the sweeper enqueues due rows that no job took."""
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
