"""Which ticket a mail belongs to, by rule, in the order DESIGN.md gives."""

from __future__ import annotations

import re

from models import customers
from models.tables import Message, Outbox, Ticket

TAG_RE = re.compile(r"\[#(\d+)\]")
TOKEN_RE = re.compile(r"^[0-9a-f]{20}$")


def by_token(settings, addresses: list[str]) -> Ticket | None:
    """support+TOKEN@ in the envelope or the headers: only our mail carried that address."""
    for address in addresses:
        local, _, domain = address.lower().rpartition("@")
        base, plus, token = local.partition("+")
        if plus and TOKEN_RE.match(token) and settings.mailbox_for(f"{base}@{domain}") is not None:
            ticket = Ticket.get_or_none(Ticket.reply_token == token)
            if ticket is not None:
                return ticket
    return None


def by_headers(mail) -> Ticket | None:
    """In-Reply-To / References naming a Message-ID we stored or sent (newest reference first)."""
    ids = list(dict.fromkeys(mail.in_reply_to + mail.references[::-1]))
    return by_message_ids(ids)


def by_message_ids(ids: list[str]) -> Ticket | None:
    if not ids:
        return None
    for model in (Message, Outbox):
        row = (model.select(model.ticket).where(model.message_id.in_(ids) & model.ticket.is_null(False))
               .order_by(model.id.desc()).first())
        if row is not None:
            return row.ticket
    return None


def by_subject_tag(mail, sender: str) -> Ticket | None:
    """A [#N] tag in the subject, trusted only when the sender is on that ticket (its customer
    or a copied colleague): anyone can type a number, and a stranger's mail must not land on
    somebody else's ticket."""
    for number in TAG_RE.findall(mail.subject):
        ticket = Ticket.get_or_none(Ticket.number == int(number))
        if ticket is not None and customers.is_on_ticket(ticket, sender):
            return ticket
    return None
