"""Which ticket a mail belongs to, by rule, in the order DESIGN.md gives."""

from __future__ import annotations

import re

from models.tables import Message, Outbox, Ticket

TAG_RE = re.compile(r"\[#(\d+)\]")


def by_headers(mail) -> Ticket | None:
    """In-Reply-To / References naming a Message-ID we stored or sent (newest reference first)."""
    ids = list(dict.fromkeys(mail.in_reply_to + mail.references[::-1]))
    if not ids:
        return None
    for model in (Message, Outbox):
        row = (model.select(model.ticket).where(model.message_id.in_(ids) & model.ticket.is_null(False))
               .order_by(model.id.desc()).first())
        if row is not None:
            return row.ticket
    return None


def by_subject_tag(mail, sender: str) -> Ticket | None:
    """A [#N] tag in the subject, trusted only when the sender is that ticket's customer: anyone
    can type a number, and a stranger's mail must not land on somebody else's ticket."""
    for number in TAG_RE.findall(mail.subject):
        ticket = Ticket.get_or_none(Ticket.number == int(number))
        if ticket is not None and ticket.customer.email == sender:
            return ticket
    return None
