"""Which ticket a mail belongs to, by rule, in the order DESIGN.md gives."""

from __future__ import annotations

import re

from models import customers, tickets
from models.tables import Ticket

from . import tokens

TAG_RE = re.compile(r"\[#(\d+)\]")
TOKEN_RE = re.compile(r"^[0-9a-f]{20}$")


def by_token(settings, addresses: list[str]) -> Ticket | None:
    """support+TOKEN@ in the envelope or the headers: only our mail carried that address. The
    ticket's own token (given to clients) or a signed agent token (given to staff)."""
    for token in tokens.tokens_in(addresses, lambda a: settings.mailbox_for(a) is not None):
        if TOKEN_RE.match(token):
            ticket = tickets.get(reply_token=token)
        else:
            signed = tokens.read(settings.signing_key, token)
            ticket = tickets.get(id=signed.ticket_id) if signed else None
        if ticket is not None:
            return ticket
    return None


def by_headers(mail) -> tuple[Ticket | None, Ticket | None]:
    """The ticket of the mail In-Reply-To names, and of the newest one References names, among
    the mail we stored or sent: one lookup for both."""
    answered = list(dict.fromkeys(mail.in_reply_to))[:10]
    referenced = list(dict.fromkeys(mail.references[::-1]))[:100]  # the recent end is what matters
    known = _known(answered + referenced)
    replied = _first(answered, known)
    newest = next((known[i] for i in referenced if i in known), None)
    return replied, (replied if replied is not None and replied.id == newest else _first(referenced, known))


def by_message_ids(ids: list[str]) -> Ticket | None:
    """The ticket of the first id (in the caller's order of preference) that we know."""
    ids = ids[:100]
    return _first(ids, _known(ids))


def _known(ids: list[str]) -> dict[str, int]:
    """Ticket ids of the Message-IDs we stored or sent, in one round trip for both tables."""
    return tickets.ticket_ids_by_message_id(ids)


def _first(ids: list[str], known: dict[str, int]) -> Ticket | None:
    found = next((known[i] for i in ids if i in known), None)
    return tickets.get(id=found) if found is not None else None


def by_subject_tag(mail, sender: str, is_agent: bool = False) -> Ticket | None:
    """A [#N] tag in the subject, trusted only from a proven agent, someone on that ticket (its
    customer or a copied colleague) or a colleague of its customer (`is_colleague`): anyone can
    type a number, and a stranger's mail must not land on somebody else's ticket."""
    for number in TAG_RE.findall(mail.subject)[:5]:
        ticket = tickets.get(number=int(number))
        if ticket is not None and (is_agent or customers.is_on_ticket(ticket, sender)
                                   or is_colleague(ticket, sender, mail)):
            return ticket
    return None


# Mail providers anyone can have an address at: sharing one proves no tie to a customer.
PUBLIC_PROVIDERS = frozenset("""
gmail.com googlemail.com outlook.com hotmail.com live.com msn.com yahoo.com yahoo.co.jp ymail.com aol.com
icloud.com me.com mac.com proton.me protonmail.com pm.me gmx.com gmx.de gmx.net web.de mail.com zoho.com
yandex.ru yandex.com mail.ru rambler.ru qq.com foxmail.com 163.com 126.com yeah.net sina.com sina.cn
sohu.com 139.com 189.cn aliyun.com tom.com naver.com daum.net hanmail.net rediffmail.com fastmail.com
hey.com tutanota.com laposte.net orange.fr free.fr libero.it t-online.de
""".split())


def is_colleague(ticket: Ticket, sender: str, mail) -> bool:
    """Someone at the customer's own organisation domain who writes with the customer in To or Cc:
    answering alongside them, not merely copying them. Only for a customer we know to belong to an
    organisation (its name set by an agent or the customer import): a shared domain alone is no
    tie (no list of public providers is ever complete: hotmail.co.uk, a university…). A stranger
    who copies the customer fails the domain."""
    customer = ticket.customer
    domain = sender.rpartition("@")[2].lower()
    return (bool(customer.organisation) and "." in domain and domain == customer.email.rpartition("@")[2]
            and domain not in PUBLIC_PROVIDERS and sender.lower() != customer.email
            and customer.email in {a.lower() for _, a in mail.to + mail.cc})
