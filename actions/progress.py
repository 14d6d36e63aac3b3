"""Progress updates: "we are still working on it" to a client whose open ticket has gone quiet.

A policy's `progress_update_hours` is the longest an open ticket may go without contact with the
client (our mail to them, or theirs to us: Ticket.last_contact_at). Updates go out only while the
policy's calendar is open, so nobody gets one at three on a Sunday morning. A ticket waiting on
the client (pending) or resolved gets none. Each update is itself a contact, so the next waits
another interval.
"""

from __future__ import annotations

import datetime as dt
import logging

from models.base import db, utcnow
from models.tables import Ticket

from . import notices, sla, surveys

log = logging.getLogger(__name__)
WORKING = ("new", "open")


def send_due(settings, now: dt.datetime | None = None, limit: int = 200) -> list[int]:
    """Queue the progress updates due now; returns the outbox ids to deliver."""
    now = now or utcnow()
    queued: list[int] = []
    for policy in settings.policies:
        if not policy.progress_update_hours or not sla.calendar_of(settings, policy).is_open(now):
            continue
        quiet_since = now - dt.timedelta(hours=policy.progress_update_hours)
        due = (Ticket.select(Ticket.id).where(Ticket.status.in_(WORKING) & (Ticket.last_contact_at <= quiet_since)
                                              & (Ticket.sla_policy == policy.name))
               .order_by(Ticket.last_contact_at).limit(limit))
        for ticket_id in [t.id for t in due]:
            try:
                queued += _update(settings, ticket_id, quiet_since, now)
            except Exception:  # rolled back: it stays due for the next run and holds up no other
                log.exception("progress update of ticket id %d failed; it stays due", ticket_id)
    return queued


def _update(settings, ticket_id: int, quiet_since: dt.datetime, now: dt.datetime) -> list[int]:
    with db.atomic():
        query = Ticket.select().where(Ticket.id == ticket_id)
        if db.for_update:  # PostgreSQL: a second job waits for the first, then sees its contact
            query = query.for_update()
        ticket = query.get()
        if ticket.status not in WORKING or ticket.last_contact_at is None or ticket.last_contact_at > quiet_since:
            return []  # answered meanwhile, or another job sent it
        rows = notices.mail_client(settings, ticket, "progress_update", "progress_update",
                                   unsubscribe=surveys.unsubscribe_url(settings, ticket.customer))
        if not rows:  # withheld (the event says why): ask again an interval later, not every minute
            Ticket.update(last_contact_at=now).where(Ticket.id == ticket.id).execute()
        return [row.id for row in rows]
