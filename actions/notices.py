"""Automatic mail to clients (acknowledgements), composed from templates and put in the outbox."""

from __future__ import annotations

import datetime as dt

from mailer import compose
from mailer.notify import message_id_domain, reply_address
from models import outbox, tickets
from models.tables import Outbox

AUTOMATIC_KINDS = ("acknowledgement",)


def acknowledge(settings, ticket, customer, message) -> Outbox | None:
    """Queue the "we received your request" mail for a new ticket, threaded under the client's.
    Returns None (and records why) when the per-recipient limit on automatic mail is reached."""
    limit = settings.outgoing.auto_reply_limit_per_hour
    if outbox.recent_automatic_count(customer.email, AUTOMATIC_KINDS, dt.timedelta(hours=1)) >= limit:
        tickets.record(ticket, "acknowledgement_suppressed",
                       f"{customer.email} already got {limit} automatic mails this hour (loop guard)",
                       new={"address": customer.email, "limit_per_hour": limit})
        return None
    mailbox = ticket.mailbox
    subject, body = compose.render("acknowledgement", mailbox.language, ticket=ticket,
                                   customer=customer, mailbox=mailbox)
    message_id = compose.new_message_id(message_id_domain(settings))
    raw = compose.build(sender_name=mailbox.name, sender=mailbox.address, to=customer.email,
                        subject=subject, text=body, message_id=message_id,
                        in_reply_to=message.message_id, reply_to=reply_address(ticket),
                        references=tuple(message.references.split()), automatic=True)
    return tickets.queue_mail(ticket, "acknowledgement", mailbox.address, customer.email, raw,
                              message_id)
