"""What operators watch, read from the database: the inbound backlog, outgoing mail, SLA marks.

The admin's status page and `/metrics` both read these. Each is meant to be cheap on a large
installation (a million tickets and their mail): it reads an index range over the few rows that
are waiting or failed, the primary key's end, or a bounded window. None scans a whole table, so
none counts all the mail ever processed or sent; the totals are the ids' high-water marks.
"""

from __future__ import annotations

import datetime as dt

from peewee import fn

from .tables import Customer, ImapCheckpoint, InboundMail, Outbox, SlaMark, Ticket

BACKLOG_STATES = ("received", "quarantined", "rejected")  # never "processed": that is nearly every row
UNSENT_STATES = ("pending", "sending", "failed", "dead")
WORKING = ("new", "open")  # statuses whose SLA clocks run (pending pauses them)


def inbound_by_state() -> dict[str, int]:
    """Stored mail not (or not successfully) processed, by state: one count on the state index each."""
    counts = dict(InboundMail.select(InboundMail.state, fn.COUNT(InboundMail.id))
                  .where(InboundMail.state.in_(BACKLOG_STATES)).group_by(InboundMail.state).tuples())
    return {state: counts.get(state, 0) for state in BACKLOG_STATES}


def oldest_unprocessed() -> dt.datetime | None:
    """When the oldest mail still waiting to be processed was stored (the ingest lag's start)."""
    return InboundMail.select(fn.MIN(InboundMail.received_at)).where(InboundMail.state == "received").scalar()


def inbound_stored_total() -> int:
    """Mails ever stored: the highest id (the primary key's end; ids are never reused while the
    newest row stays)."""
    return InboundMail.select(fn.MAX(InboundMail.id)).scalar() or 0


def inbound_outcomes_since(since: dt.datetime) -> dict[str, int]:
    """Mails stored since `since`, by outcome so far ("" while none yet): a range of the
    received_at index, so the cost follows the recent traffic, not the table."""
    return dict(InboundMail.select(InboundMail.outcome, fn.COUNT(InboundMail.id))
                .where(InboundMail.received_at >= since).group_by(InboundMail.outcome).tuples())


def outbox_by_state() -> dict[str, int]:
    """Outgoing mail not sent yet, by state (sent mail, nearly every row, is not counted)."""
    counts = dict(Outbox.select(Outbox.state, fn.COUNT(Outbox.id)).where(Outbox.state.in_(UNSENT_STATES))
                  .group_by(Outbox.state).tuples())
    return {state: counts.get(state, 0) for state in UNSENT_STATES}


def outbox_failed_attempts() -> dict[str, int]:
    """Delivery attempts that failed, summed over the mail still failed (waiting for a retry) or dead."""
    sums = dict(Outbox.select(Outbox.state, fn.SUM(Outbox.attempts)).where(Outbox.state.in_(("failed", "dead")))
                .group_by(Outbox.state).tuples())
    return {state: int(sums.get(state) or 0) for state in ("failed", "dead")}


def oldest_due_delivery(now: dt.datetime) -> dt.datetime | None:
    """The earliest due time of outgoing mail that is due and not sent (the delivery lag's start)."""
    return (Outbox.select(fn.MIN(Outbox.next_attempt_at))
            .where(Outbox.state.in_(("pending", "failed")) & (Outbox.next_attempt_at <= now)).scalar())


def outbox_queued_total() -> int:
    """Outgoing mails ever queued (one per recipient): the highest id."""
    return Outbox.select(fn.MAX(Outbox.id)).scalar() or 0


def held_customers() -> dict[str, int]:
    """Customers nothing is sent to any more, by why (bouncing, complained)."""
    return dict(Customer.select(Customer.bounce_state, fn.COUNT(Customer.id)).where(Customer.bounce_state != "")
                .group_by(Customer.bounce_state).tuples())


def breached_tickets(now: dt.datetime) -> int:
    """Working tickets past an SLA due time now (the admin's "Breached" queue, uncapped): a range
    of the (status, sla_due) index."""
    return Ticket.select().where(Ticket.status.in_(WORKING) & (Ticket.sla_due <= now)).count()


def sla_marks_since(after_id: int, until: dt.datetime) -> tuple[int, dict[str, int]]:
    """SLA warnings and breaches recorded after mark `after_id` and before `until`: (the last
    id counted, {"warning": n, "breach": n, "escalation": n}). Marks are only ever added, so a caller that keeps
    the last id counts each once, reading only the primary key range past it; `until` (a little
    before now) leaves out marks whose transaction may still be open, so a slow commit with a
    lower id is not skipped."""
    upto = SlaMark.select(fn.MAX(SlaMark.id)).where((SlaMark.id > after_id) & (SlaMark.at <= until)).scalar()
    if upto is None:
        return after_id, {}
    rows = (SlaMark.select(SlaMark.mark, fn.COUNT(SlaMark.id)).where((SlaMark.id > after_id) & (SlaMark.id <= upto))
            .group_by(SlaMark.mark).tuples())
    counts: dict[str, int] = {}
    for mark, n in rows:
        counts[sla_mark_kind(mark)] = counts.get(sla_mark_kind(mark), 0) + n
    return upto, counts


def sla_marks_high_water() -> int:
    """The newest SLA mark's id (0: none)."""
    return SlaMark.select(fn.MAX(SlaMark.id)).scalar() or 0


def sla_mark_kind(mark: str) -> str:
    """"warning"; "breach" for the breach itself (its level 0, or the only mark of a policy without
    levels); "escalation" for the levels after it."""
    if mark in ("warning", "breach", "breach-0"):
        return mark.split("-")[0]
    return "escalation"


def imap_checkpoints() -> dict[str, ImapCheckpoint]:
    """Each IMAP account's checkpoint: its updated_at is when it last stored a mail."""
    return {c.account: c for c in ImapCheckpoint.select()}
