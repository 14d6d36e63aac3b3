"""Actions for mail that comes in: a customer's message, an agent's note, a bounce."""

from __future__ import annotations

import logging

from models import customers, tickets
from models.base import db

from . import notices
from .result import Done

log = logging.getLogger(__name__)


def receive_customer_mail(settings, mail, *, ticket, follow_up_of, mailbox, threaded_by: str,
                          reply_text: str, inbound_id: int | None, automatic: bool, notify: bool,
                          at, found_customer=None) -> Done:
    """A customer's mail: a new ticket (acknowledged) or a message on `ticket`. Only the ticket's
    customer brings the people they copy in as participants (whose [#N] tags are trusted): anyone
    who knows a Message-ID of the thread can answer it. Someone who is neither the customer nor a
    participant is recorded as an outsider."""
    with db.atomic():
        customer = customers.find_or_create(mail.from_address, mail.from_name, found=found_customer)
        copied = [(n, a) for n, a in mail.to + mail.cc  # mailbox_for also covers support+tag@
                  if "@" in a and a != customer.email and settings.mailbox_for(a) is None]
        if ticket is None:
            ticket = tickets.open_ticket(tickets.sync_mailbox(mailbox), customer, mail.subject,
                                         settings.tickets.number_start, follow_up_of=follow_up_of, at=at)
            outcome, outsider = "new_ticket", False
        else:
            outcome, outsider = "added", not customers.is_on_ticket(ticket, customer.email)
        review = "; ".join(mail.problems)
        message = tickets.add_inbound_message(
            ticket, customer, mail, reply_text=reply_text, threaded_by=threaded_by, inbound_id=inbound_id,
            automatic=automatic, at=at, review_reason=review, outsider=outsider)
        if review:
            tickets.record(ticket, "needs_review", review[:1000], actor="postdesk", via="email",
                           new={"reasons": list(mail.problems)})
        if outsider:
            tickets.record(ticket, "outsider", f"{customer.email} is not on this ticket "
                           f"(threaded by {threaded_by}); nobody they copied was added",
                           actor=customer.email, via="email",
                           new={"address": customer.email, "threaded_by": threaded_by})
            log.warning("%s from %s, who is not on ticket #%s", mail.message_id, customer.email, ticket.number)
        if automatic:
            return Done("auto_reply", ticket)
        customers.clear_bounce(customer)
        if customer.id == ticket.customer_id:  # not a participant's reply-all, not an outsider
            customers.add_participants(ticket, copied)
        ack = notices.acknowledge(settings, ticket, customer, message) if outcome == "new_ticket" and notify else None
    return Done(outcome, ticket, (ack.id,) if ack is not None else ())


def note_from_agent(ticket, agent, mail, *, reply_text: str, threaded_by: str, inbound_id: int | None) -> Done:
    """A proven agent's mail on a ticket: kept as an internal note, never sent to the client.
    (Replies to the client and #commands by mail are a later step.)"""
    with db.atomic():
        tickets.add_agent_note(ticket, agent, mail, reply_text=reply_text, threaded_by=threaded_by,
                               inbound_id=inbound_id)
    return Done("added", ticket)


def record_bounce(bounce, ticket) -> Done:
    """A delivery report: each failed recipient we know is marked bouncing (permanent wins), and
    the ticket of the bounced mail gets an event."""
    with db.atomic():
        for address, permanent in [(a, True) for a in bounce.permanent] + [(a, False) for a in bounce.temporary]:
            kind = "permanent" if permanent else "temporary"
            customer = customers.record_bounce(address, permanent, f"{kind} failure: {bounce.reason}")
            if customer is not None and ticket is not None:
                tickets.record(ticket, "bounce", f"{kind} delivery failure for {address}",
                               actor="mail server", via="email", new={"address": address, "permanent": permanent})
    return Done("bounce", ticket)
