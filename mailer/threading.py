"""Which ticket a mail belongs to, by rule, in the order DESIGN.md gives."""

from __future__ import annotations

import re

from models import customers, tickets
from models.tables import Ticket

from . import tokens

# Our [#N], and what clients and gateways make of it: spaces put inside ("[# 12]", "[ #12 ]"), and
# the full-width brackets and number sign of Chinese and Japanese input methods ("【#12】",
# "［＃12］"). Round brackets are left to other systems' "(#12)".
TAG_RE = re.compile(r"[\[【［][ \t\u3000]*[#＃][ \t\u3000]*(\d{1,12})[ \t\u3000]*[\]】］]")
TOKEN_RE = re.compile(r"^[0-9a-f]{20}$")


def by_token(settings, addresses: list[str]) -> Ticket | None:
    """support+TOKEN@ in the envelope or the headers: only our mail carried that address. The
    ticket's own token (given to clients) or a signed agent token (given to staff). A signed
    token first: it is what proves the agent (identity.agent_by_token reads the same one), so
    their mail acts on the ticket it was signed for, never on another ticket whose client
    address was added beside it."""
    found = tokens.tokens_in(addresses, lambda a: settings.mailbox_for(a) is not None)
    for token in sorted(found, key=lambda t: TOKEN_RE.match(t) is not None):
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
    customer or a copied colleague) or someone writing alongside its customer (`writes_alongside`):
    anyone can type a number, and a stranger's mail must not land on somebody else's ticket."""
    for number in TAG_RE.findall(mail.subject)[:5]:
        ticket = tickets.get(number=int(number))
        if ticket is not None and (is_agent or customers.is_on_ticket(ticket, sender)
                                   or writes_alongside(ticket, sender, mail)):
            return ticket
    return None


# Reply and forward prefixes, in the languages mail clients write them, and tags in brackets.
SUBJECT_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?|fw|aw|wg|sv|vs|vb|tr|rv|enc|odp|antw|res|ynt|回复|回覆|答复|答覆|"
                            r"转发|轉寄|转寄|轉發|返信|転送|ответ|пересл)\s*+(?:\[\d++\])?+\s*+[:：]"
                            r"|\s*+[\[【［][^\]】］]{0,40}+[\]】］])++", re.I)


def subject_core(subject: str) -> str:
    """The words of a subject without reply and forward prefixes and bracketed tags, folded."""
    return " ".join(SUBJECT_PREFIX.sub("", subject).split()).casefold()


def same_conversation(subject: str, ticket_subject: str) -> bool:
    """Could a mail of this subject be about this ticket: one subject holds the other's words, as
    whole words?
    (A client may add to a subject; another system's "[#2] Delivery delayed" is not "Printer".)"""
    mine, theirs = subject_core(subject), subject_core(ticket_subject)
    if not mine or not theirs:
        return False
    shorter, longer = sorted((mine, theirs), key=len)
    return re.search(rf"(?<![a-z0-9]){re.escape(shorter)}(?![a-z0-9])", longer) is not None  # "help" ≠ "helpdesk"


# Mail providers anyone can have an address at: sharing one proves no tie to a customer. Known by
# their name whatever the country's suffix (hotmail.co.uk, yahoo.com.tw, gmx.at…), plus the
# domains that are theirs alone.
PUBLIC_PROVIDER_NAMES = frozenset("""
gmail googlemail outlook hotmail live msn windowslive yahoo ymail rocketmail aol icloud me mac proton
protonmail pm gmx web mail email zoho yandex ya rambler qq foxmail 163 126 yeah sina sohu 139 189 aliyun
tom 21cn naver daum hanmail nate rediffmail fastmail hey tutanota tuta laposte orange wanadoo free sfr
libero virgilio tiscali alice t-online freenet btinternet sky virginmedia ntlworld talktalk comcast verizon
att sbcglobal bellsouth cox charter earthlink optonline shaw rogers sympatico bigpond optusnet xtra
seznam wp onet interia o2 inbox bk list rediff posteo mailbox runbox hushmail lycos excite juno netzero
appleid duck mozmail simplelogin aleeas slmail anonaddy addy passmail relay33 33mail mailfence startmail skiff
bluewin sunrise hispeed ukr abv centrum azet citromail freemail sapo uol bol
kakao nifty biglobe ocn docomo ezweb softbank ziggo kpnmail xs4all telenet skynet hetnet
chello arcor bbox neuf numericable tin tiscalinet optimum frontier windstream centurylink mchsi
""".split())
# Privacy relays (Apple's Hide My Email at privaterelay.appleid.com, DuckDuckGo, Firefox Relay,
# SimpleLogin, addy.io, Proton Pass) give every one of their users an address at the same domain.
# Domains of schools and universities: thousands of people who are not each other's colleagues.
SHARED_SUFFIXES = (".edu", ".ac.uk", ".ac.jp", ".ac.kr", ".ac.nz", ".ac.za", ".ac.in", ".ac.il", ".edu.cn",
                   ".edu.au", ".edu.hk", ".edu.tw", ".edu.sg", ".edu.my", ".edu.br", ".edu.mx", ".edu.tr")


SECOND_LEVEL = frozenset("co com net org ne or ac edu gov".split())  # co.uk, com.tw, ne.jp…


def is_public_provider(domain: str) -> bool:
    """A domain anyone can have an address at (a mail provider's, a university's): its
    registrable name (hotmail in hotmail.co.uk, not mail in mail.acme.com) is a provider's."""
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    cut = 3 if len(labels) >= 3 and labels[-2] in SECOND_LEVEL and len(labels[-1]) == 2 else 2
    return labels[-cut] in PUBLIC_PROVIDER_NAMES or domain.endswith(SHARED_SUFFIXES)


def writes_alongside(ticket: Ticket, sender: str, mail) -> bool:
    """Someone at the customer's own domain (not a public provider's) who writes with the
    customer in To or Cc: answering alongside them, not merely copying them. Their [#N] tag
    threads; a stranger who copies the customer fails the domain."""
    customer = ticket.customer
    domain = sender.rpartition("@")[2].lower()
    return ("." in domain and domain == customer.email.rpartition("@")[2] and not is_public_provider(domain)
            and sender.lower() != customer.email and customer.email in {a.lower() for _, a in mail.to + mail.cc})

