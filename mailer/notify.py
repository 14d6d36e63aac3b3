"""Automatic mail to clients (acknowledgements), composed from templates and put in the outbox."""

from __future__ import annotations

import datetime as dt

from models import outbox, tickets

from . import compose

AUTOMATIC_KINDS = ("acknowledgement",)


def message_id_domain(settings) -> str:
    return settings.outgoing.message_id_domain or settings.mailboxes[0].address.split("@")[1]


def reply_address(ticket) -> str:
    """support+TOKEN@domain: replies to it find their ticket whatever the client does to headers."""
    local, domain = ticket.mailbox.address.split("@", 1)
    return f"{local}+{ticket.reply_token}@{domain}"


def acknowledge(settings, ticket, customer, message):
    """Queue the "we received your request" mail for a new ticket, threaded under the client's.
    Returns None (and records why) when the per-recipient limit on automatic mail is reached."""
    limit = settings.outgoing.auto_reply_limit_per_hour
    if outbox.recent_automatic_count(customer.email, AUTOMATIC_KINDS, dt.timedelta(hours=1)) >= limit:
        tickets.record(ticket, "acknowledgement_suppressed",
                       f"{customer.email} already got {limit} automatic mails this hour (loop guard)")
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
