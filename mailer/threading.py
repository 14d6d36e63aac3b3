"""Which ticket a mail belongs to, by rule, in the order DESIGN.md gives."""

from __future__ import annotations

import re

from models import customers
from models.tables import Message, Outbox, Ticket

from . import tokens

TAG_RE = re.compile(r"\[#(\d+)\]")
TOKEN_RE = re.compile(r"^[0-9a-f]{20}$")


def by_token(settings, addresses: list[str]) -> Ticket | None:
    """support+TOKEN@ in the envelope or the headers: only our mail carried that address. The
    ticket's own token (given to clients) or a signed agent token (given to staff)."""
    for token in tokens.tokens_in(addresses, lambda a: settings.mailbox_for(a) is not None):
        if TOKEN_RE.match(token):
            ticket = Ticket.get_or_none(Ticket.reply_token == token)
        else:
            signed = tokens.read(settings.signing_key, token)
            ticket = Ticket.get_or_none(Ticket.id == signed.ticket_id) if signed else None
        if ticket is not None:
            return ticket
    return None


def by_headers(mail) -> Ticket | None:
    """In-Reply-To, then References from the newest back, naming a Message-ID we stored or sent.
    The message answered wins: References may also name mail that went to another ticket."""
    return by_message_ids(list(dict.fromkeys(mail.in_reply_to + mail.references[::-1])))


def by_message_ids(ids: list[str]) -> Ticket | None:
    """The ticket of the first id (in the caller's order of preference) that we know."""
    if not ids:
        return None
    ids = ids[:100]  # a References header can be long; the recent end is what matters
    sent = Outbox.select(Outbox.message_id, Outbox.ticket).where(
        Outbox.message_id.in_(ids) & Outbox.ticket.is_null(False))
    stored = Message.select(Message.message_id, Message.ticket).where(Message.message_id.in_(ids))
    known = dict((sent | stored).tuples())  # one round trip for both tables
    for message_id in ids:
        if message_id in known:
            return Ticket.get_by_id(known[message_id])
    return None


def by_subject_tag(mail, sender: str, is_agent: bool = False) -> Ticket | None:
    """A [#N] tag in the subject, trusted only from a proven agent or someone on that ticket (its
    customer or a copied colleague): anyone can type a number, and a stranger's mail must not
    land on somebody else's ticket."""
    for number in TAG_RE.findall(mail.subject):
        ticket = Ticket.get_or_none(Ticket.number == int(number))
        if ticket is not None and (is_agent or customers.is_on_ticket(ticket, sender)):
            return ticket
    return None
