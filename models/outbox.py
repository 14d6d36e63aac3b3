"""Outgoing mail: queued in the transaction that causes it, then delivered with retries."""

from __future__ import annotations

import datetime as dt
import functools
import random

from . import dialect, statements
from .base import db, utcnow
from .tables import Outbox

MAX_BACKOFF = dt.timedelta(hours=6)
STUCK_AFTER = dt.timedelta(minutes=10)
RESENDABLE = ("dead", "failed")


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
        return [statements.create(Outbox, **row) for row in rows]  # its SQL built once: one per mail
    ids = [r[0] for r in Outbox.insert_many(rows).returning(Outbox.id).tuples().execute()]
    return [Outbox(id=outbox_id, **row) for outbox_id, row in zip(ids, rows, strict=True)]


def recent_automatic_count(address: str, kinds: tuple[str, ...], within: dt.timedelta) -> int:
    """Written as SQL: it runs for every acknowledgement."""
    p = db.param
    sql = (f"SELECT COUNT(*) FROM outbox WHERE rcpt_to = {p} AND kind IN ({', '.join([p] * len(kinds))}) "
           f"AND created_at >= {p}")
    return db.execute_sql(sql, (address.lower(), *kinds, utcnow() - within)).fetchone()[0]


def claim(outbox_id: int) -> Outbox | None:
    """Take a due row for delivery; None when it is sent, dead, not yet due or taken by another.
    Written as SQL built once: every mail we send is claimed, and peewee's query building cost
    more than the statement."""
    now = utcnow()
    sql = _claim_sql(db.param, dialect.skip_locked(), bool(db.returning_clause))
    with db.atomic():
        cursor = db.execute_sql(sql, (now, outbox_id, now))
        if db.returning_clause:  # one round trip: the row comes back with the update
            found = cursor.fetchone()
            return statements.instance_of(Outbox, found) if found else None
        taken = cursor.rowcount
    return Outbox.get_by_id(outbox_id) if taken else None


@functools.lru_cache(maxsize=8)
def _claim_sql(p: str, skip_locked: str, returning: bool) -> str:
    """The guarded UPDATE; on PostgreSQL a row another worker is claiming is passed over, not
    waited for."""
    due = f"id = {p} AND state IN ('pending', 'failed') AND next_attempt_at <= {p}"
    chosen = f"id IN (SELECT id FROM outbox WHERE {due}{skip_locked})" if skip_locked else due
    sql = f"UPDATE outbox SET state = 'sending', next_attempt_at = {p} WHERE {chosen}"
    return sql + " RETURNING " + statements.columns(Outbox) if returning else sql


def mark_sent(row: Outbox, claim_next: int | None = None) -> Outbox | None:
    """Record the row as sent; with `claim_next`, claim that row in the same transaction (a
    batch's next send) and return it as `claim` does."""
    with db.atomic():
        statements.update(Outbox, row.id, state="sent", sent_at=utcnow(), attempts=row.attempts + 1, last_error="")
        return claim(claim_next) if claim_next is not None else None


def mark_failed(row: Outbox, error: str, permanent: bool, max_attempts: int,
                retry_base_seconds: int, spread: float | None = None) -> str:
    """Schedule the next attempt (see retry_delay), or mark the row dead when the failure is
    permanent or this was its last attempt. Returns the new state."""
    attempts = row.attempts + 1
    state = "dead" if permanent or attempts >= max_attempts else "failed"
    if state == "dead" and not permanent:
        error = f"gave up after {attempts} attempts: {error}"
    delay = retry_delay(attempts, retry_base_seconds, random.random() if spread is None else spread)
    with db.atomic():
        Outbox.update(state=state, attempts=attempts, last_error=error[:4000],
                      next_attempt_at=utcnow() + delay).where(Outbox.id == row.id).execute()
    return state


def retry_delay(attempts: int, base_seconds: int, spread: float) -> dt.timedelta:
    """Exponential backoff with jitter: base, 2×base, 4×base… (at most MAX_BACKOFF), lengthened
    by up to half at random (`spread` in [0, 1)). Never shorter than the plain schedule, since a
    greylisting relay wants its minimum wait; spread so that the many mails one relay outage
    failed together do not all come back in the same second."""
    backoff = min(dt.timedelta(seconds=base_seconds * 2 ** (attempts - 1)), MAX_BACKOFF)
    return backoff * (1 + spread / 2)


def due_ids(limit: int = 1000, pending_after: dt.timedelta = dt.timedelta(0)) -> list[int]:
    """Rows to (re)deliver now; rows stuck in "sending" by a crashed worker are released first.
    A pending row got its job when it was queued: with `pending_after`, it counts only once that
    job had time to run, so a sweep does not enqueue every fresh row a second time."""
    now = utcnow()
    with db.atomic():
        Outbox.update(state="failed", last_error="delivery interrupted; retrying") \
            .where((Outbox.state == "sending") & (Outbox.next_attempt_at <= now - STUCK_AFTER)) \
            .execute()
    due = (((Outbox.state == "failed") & (Outbox.next_attempt_at <= now))
           | ((Outbox.state == "pending") & (Outbox.next_attempt_at <= now - pending_after)))
    return [row.id for row in Outbox.select(Outbox.id).where(due).order_by(Outbox.id).limit(limit)]


def check_resend(outbox_ids: list[int]) -> list[str]:
    """Why some of these rows cannot be re-sent, one line each (none: all can)."""
    states = dict(Outbox.select(Outbox.id, Outbox.state).where(Outbox.id.in_(outbox_ids)).tuples())
    return [f"outbox {i}: " + (f"is {states[i]}, not dead or failed" if i in states else "no such mail")
            for i in dict.fromkeys(outbox_ids) if states.get(i) not in RESENDABLE]


def resend(outbox_id: int) -> bool:
    """Put a dead (or failed) row back in line, with fresh attempts, as the admin's "re-send"
    and `postdesk outbox resend` do. Its stored bytes are sent again as they are: the same
    Message-ID, so a mail client that got it before shows it once. False when the row is not
    dead or failed (sent, or on its way)."""
    with db.atomic():
        return bool(Outbox.update(state="pending", next_attempt_at=utcnow(), attempts=0)
                    .where((Outbox.id == outbox_id) & Outbox.state.in_(RESENDABLE))
                    .execute())


def listed(state: str = "", limit: int = 50) -> list[Outbox]:
    """The newest rows (in one state, or any), without their raw bytes, for `postdesk outbox list`."""
    fields = [f for f in Outbox._meta.sorted_fields if f is not Outbox.raw]
    query = Outbox.select(*fields).order_by(Outbox.id.desc()).limit(limit)
    return list(query.where(Outbox.state == state) if state else query)
