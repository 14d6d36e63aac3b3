"""Outgoing mail: queued in the transaction that causes it, then delivered with retries."""

from __future__ import annotations

import datetime as dt

from .base import db, utcnow
from .tables import Outbox

MAX_BACKOFF = dt.timedelta(hours=6)
STUCK_AFTER = dt.timedelta(minutes=10)


def queue(*, ticket, kind: str, mail_from: str, recipients: list[str], raw: bytes,
          message_id: str) -> list[Outbox]:
    """One row per recipient, each delivered, retried and given up on by itself."""
    return queue_many([{"ticket": ticket, "kind": kind, "mail_from": mail_from, "rcpt_to": address.lower(),
                        "raw": raw, "message_id": message_id} for address in dict.fromkeys(recipients)])


def queue_many(rows: list[dict]) -> list[Outbox]:
    """Several outbox rows (dicts of Outbox fields) in one insert when the database returns ids."""
    if not rows:
        return []
    if not db.returning_clause or len(rows) == 1:
        return [Outbox.create(**row) for row in rows]
    ids = [r[0] for r in Outbox.insert_many(rows).returning(Outbox.id).tuples().execute()]
    return [Outbox(id=outbox_id, **row) for outbox_id, row in zip(ids, rows, strict=True)]


def recent_automatic_count(address: str, kinds: tuple[str, ...], within: dt.timedelta) -> int:
    return (Outbox.select().where((Outbox.rcpt_to == address.lower()) & Outbox.kind.in_(kinds)
                                  & (Outbox.created_at >= utcnow() - within)).count())


def claim(outbox_id: int) -> Outbox | None:
    """Take a due row for delivery; None when it is sent, dead, not yet due or taken by another."""
    now = utcnow()
    take = (Outbox.update(state="sending", next_attempt_at=now)
            .where((Outbox.id == outbox_id) & Outbox.state.in_(("pending", "failed"))
                   & (Outbox.next_attempt_at <= now)))
    with db.atomic():
        if db.returning_clause:  # one round trip: the row comes back with the update
            rows = list(take.returning(*Outbox._meta.sorted_fields).objects(Outbox).execute())
            return rows[0] if rows else None
        taken = take.execute()
    return Outbox.get_by_id(outbox_id) if taken else None


def mark_sent(row: Outbox) -> None:
    with db.atomic():
        Outbox.update(state="sent", sent_at=utcnow(), attempts=row.attempts + 1, last_error="") \
            .where(Outbox.id == row.id).execute()


def mark_failed(row: Outbox, error: str, permanent: bool, max_attempts: int,
                retry_base_seconds: int) -> str:
    """Schedule the next attempt with exponential backoff, or mark dead. Returns the new state."""
    attempts = row.attempts + 1
    state = "dead" if permanent or attempts >= max_attempts else "failed"
    delay = min(dt.timedelta(seconds=retry_base_seconds * 2 ** (attempts - 1)), MAX_BACKOFF)
    with db.atomic():
        Outbox.update(state=state, attempts=attempts, last_error=error[:4000],
                      next_attempt_at=utcnow() + delay).where(Outbox.id == row.id).execute()
    return state


def due_ids(limit: int = 1000) -> list[int]:
    """Rows to (re)deliver now; rows stuck in "sending" by a crashed worker are released first."""
    now = utcnow()
    with db.atomic():
        Outbox.update(state="failed", last_error="delivery interrupted; retrying") \
            .where((Outbox.state == "sending") & (Outbox.next_attempt_at <= now - STUCK_AFTER)) \
            .execute()
    query = (Outbox.select(Outbox.id)
             .where(Outbox.state.in_(("pending", "failed")) & (Outbox.next_attempt_at <= now))
             .order_by(Outbox.id).limit(limit))
    return [row.id for row in query]


def resend(outbox_id: int) -> bool:
    """Put a dead (or failed) row back in line, as the admin's "re-send" does."""
    with db.atomic():
        return bool(Outbox.update(state="pending", next_attempt_at=utcnow(), attempts=0)
                    .where((Outbox.id == outbox_id) & Outbox.state.in_(("dead", "failed")))
                    .execute())
