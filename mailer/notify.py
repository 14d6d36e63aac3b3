"""Automatic mail to clients (acknowledgements), composed from templates and put in the outbox."""

from __future__ import annotations

from models import tickets

from . import compose


def message_id_domain(settings) -> str:
    return settings.outgoing.message_id_domain or settings.mailboxes[0].address.split("@")[1]


def acknowledge(settings, ticket, customer, message):
    """Queue the "we received your request" mail for a new ticket, threaded under the client's."""
    mailbox = ticket.mailbox
    subject, body = compose.render("acknowledgement", mailbox.language, ticket=ticket,
                                   customer=customer, mailbox=mailbox)
    message_id = compose.new_message_id(message_id_domain(settings))
    raw = compose.build(sender_name=mailbox.name, sender=mailbox.address, to=customer.email,
                        subject=subject, text=body, message_id=message_id,
                        in_reply_to=message.message_id,
                        references=tuple(message.references.split()), automatic=True)
    return tickets.queue_mail(ticket, "acknowledgement", mailbox.address, customer.email, raw,
                              message_id)
